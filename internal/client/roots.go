package client

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"sync"
)

// On Linux, x509.SystemCertPool reads the CA bundle ($SSL_CERT_FILE, or
// the first of the distribution's) and then every file in the certificate
// directories, where Debian and others keep each CA a second time as a
// file of its own: 15-22 ms on this project's machine against 4-7 ms for
// the bundle alone, paid by every 'secr run' against an https:// server
// before its first byte is sent (a loopback run takes 4 ms in all). The
// client verifies a server's chain against that same bundle first, and
// against the whole system pool only when that fails: roots that verify a
// chain in the bundle verify it in the system pool too (the bundle is part
// of it), and anything the bundle cannot verify is decided by the system
// pool, with its error. The verdict is Go's default one; only the cost of
// a chain that does verify drops.

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

// bundleFirstTLS is the TLS configuration for a client on this system: on
// Linux, bundle-first verification, where the bundle is $SSL_CERT_FILE
// when that is set (x509.SystemCertPool then reads it in place of its
// list, and still reads the directories: $SSL_CERT_DIR, or its own);
// elsewhere nil, Go's default verification.
func bundleFirstTLS(goos string, getenv func(string) string) *tls.Config {
	if goos != "linux" {
		return nil
	}
	files := caBundles
	if f := getenv("SSL_CERT_FILE"); f != "" {
		files = []string{f}
	}
	v := &chainVerifier{bundle: sync.OnceValue(func() *x509.CertPool { return readBundle(files) }), system: x509.SystemCertPool}
	return v.config()
}

// readBundle returns the roots of the first of files that reads, or nil.
func readBundle(files []string) *x509.CertPool {
	for _, f := range files {
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
