package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"sync"
)

// On Linux, x509.SystemCertPool reads the distribution's CA bundle and then
// every file in the certificate directories, where Debian and others keep
// each CA a second time as a file of its own: 15-22 ms on this project's
// machine against 4-7 ms for the bundle alone, paid by every 'secr run'
// against an https:// server before its first byte is sent (a loopback run
// takes 4 ms in all). bundleFirst verifies a server's chain against the
// first CA bundle Go itself would read, and against the whole system pool
// only when that fails: roots that verify a chain in the bundle verify it
// in the system pool too (the bundle's are a subset), and anything the
// bundle cannot verify is decided by the system pool, with its error. The
// verdict is Go's default one; only the cost of a chain that does verify
// drops.

// caBundles are the files x509.SystemCertPool reads first on Linux, in its
// order (crypto/x509/root_linux.go).
var caBundles = []string{
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/ca-bundle.pem",
	"/etc/pki/tls/cacert.pem",
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
	"/etc/ssl/cert.pem",
}

// chainVerifier verifies a server's certificate chain against bundle's
// roots first and system's when that fails.
type chainVerifier struct {
	bundle func() *x509.CertPool // nil: no bundle
	system func() (*x509.CertPool, error)
}

// bundleFirstTLS is the TLS configuration for a client on this system: nil
// (Go's default verification) unless bundle-first verification applies,
// that is on Linux with neither SSL_CERT_FILE nor SSL_CERT_DIR set (those
// already make Go read only what they name).
func bundleFirstTLS(goos string, getenv func(string) string) *tls.Config {
	if goos != "linux" || getenv("SSL_CERT_FILE") != "" || getenv("SSL_CERT_DIR") != "" {
		return nil
	}
	v := &chainVerifier{bundle: sync.OnceValue(readBundle), system: x509.SystemCertPool}
	return v.config()
}

// readBundle returns the roots of the first CA bundle that reads, or nil.
func readBundle() *x509.CertPool {
	for _, f := range caBundles {
		if data, err := os.ReadFile(f); err == nil {
			pool := x509.NewCertPool()
			if pool.AppendCertsFromPEM(data) {
				return pool
			}
			return nil
		}
	}
	return nil
}

// config verifies in VerifyConnection what crypto/tls would verify itself
// (the chain to a root, the name, the validity period, server auth usage):
// InsecureSkipVerify only hands that job to it.
func (v *chainVerifier) config() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, VerifyConnection: v.verify}
}

func (v *chainVerifier) verify(cs tls.ConnectionState) error {
	certs := cs.PeerCertificates
	if len(certs) == 0 {
		return errors.New("tls: the server sent no certificate")
	}
	opts := x509.VerifyOptions{DNSName: cs.ServerName, Intermediates: x509.NewCertPool()}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	if roots := v.bundle(); roots != nil {
		opts.Roots = roots
		if _, err := certs[0].Verify(opts); err == nil {
			return nil
		}
	}
	roots, err := v.system()
	if err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
	}
	opts.Roots = roots
	if _, err := certs[0].Verify(opts); err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: certs, Err: err}
	}
	return nil
}
