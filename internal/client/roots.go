package client

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
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

// chainVerifier verifies a server's certificate chain against the roots
// bundle offers for it first, and system's when that fails.
type chainVerifier struct {
	// bundle returns the roots of the CA bundle that may have issued one
	// of certs (nil: none, or no bundle).
	bundle func(certs []*x509.Certificate) *x509.CertPool
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
	pems := sync.OnceValue(func() []byte { return readBundle(files) })
	v := &chainVerifier{bundle: func(certs []*x509.Certificate) *x509.CertPool { return issuersIn(pems(), certs) }, system: x509.SystemCertPool}
	return v.config()
}

// readBundle returns the contents of the first of files that reads.
func readBundle(files []string) []byte {
	for _, f := range files {
		if data, err := os.ReadFile(f); err == nil {
			return data
		}
	}
	return nil
}

// issuersIn returns the certificates of the PEM bundle that may have
// issued one of certs, or nil. Parsing all of a bundle's 140-odd
// certificates is most of its cost (x509.CertPool.AppendCertsFromPEM
// parses each), so only those whose encoding contains an issuer's name as
// certs carry it are parsed; what else is in the bundle cannot be an
// issuer of the chain, and a pool without it verifies the chain exactly
// when the whole bundle does.
func issuersIn(bundle []byte, certs []*x509.Certificate) *x509.CertPool {
	var pool *x509.CertPool
	for len(bundle) > 0 {
		var block *pem.Block
		block, bundle = pem.Decode(bundle)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" || len(block.Headers) != 0 || !namesIssuer(block.Bytes, certs) {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			continue
		}
		if pool == nil {
			pool = x509.NewCertPool()
		}
		pool.AddCert(c)
	}
	return pool
}

// namesIssuer reports whether der contains the encoded issuer name of one
// of certs (as its subject, if it is that issuer).
func namesIssuer(der []byte, certs []*x509.Certificate) bool {
	for _, c := range certs {
		if len(c.RawIssuer) > 0 && bytes.Contains(der, c.RawIssuer) {
			return true
		}
	}
	return false
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
	if roots := v.bundle(certs); roots != nil {
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
