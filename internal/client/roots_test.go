package client

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key}
}

func (ca *testCA) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// leaf issues a certificate for 127.0.0.1 and names, valid from notBefore
// to notAfter, for usage (x509.ExtKeyUsageServerAuth for a server's).
func (ca *testCA) leaf(t *testing.T, usage x509.ExtKeyUsage, notBefore, notAfter time.Time, names ...string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "server"},
		NotBefore: notBefore, NotAfter: notAfter, DNSNames: names,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsServer serves 200 over TLS on 127.0.0.1 with cert.
func tlsServer(t *testing.T, cert tls.Certificate) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// get makes a request to url through v's TLS configuration, with the
// host name host sent and verified.
func (v *chainVerifier) get(url, host string) error {
	cfg := v.config()
	cfg.ServerName = host
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	resp, err := c.Get(url)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

// TestBundleFirstVerification: a chain the bundle verifies is accepted
// without the system pool being read; one it does not is decided by the
// system pool, accepted or refused with Go's own errors; a wrong name or
// an expired certificate is refused either way.
func TestBundleFirstVerification(t *testing.T) {
	ca, other := newTestCA(t, "test CA"), newTestCA(t, "other CA")
	now := time.Now()
	srv := tlsServer(t, ca.leaf(t, x509.ExtKeyUsageServerAuth, now.Add(-time.Minute), now.Add(time.Hour), "secr.test"))
	systemReads := 0
	verifier := func(bundle, system *x509.CertPool) *chainVerifier {
		systemReads = 0
		return &chainVerifier{
			bundle: func([]*x509.Certificate) *x509.CertPool { return bundle },
			system: func() (*x509.CertPool, error) { systemReads++; return system, nil },
		}
	}

	if err := verifier(ca.pool(), other.pool()).get(srv.URL, "secr.test"); err != nil || systemReads != 0 {
		t.Fatalf("CA in the bundle: %v, system pool read %d times", err, systemReads)
	}
	if err := verifier(other.pool(), ca.pool()).get(srv.URL, "secr.test"); err != nil || systemReads != 1 {
		t.Fatalf("CA only in the system pool: %v, system pool read %d times", err, systemReads)
	}
	if err := verifier(nil, ca.pool()).get(srv.URL, "127.0.0.1"); err != nil {
		t.Fatalf("no bundle, CA in the system pool, an IP address: %v", err)
	}

	var unknown x509.UnknownAuthorityError
	var verr *tls.CertificateVerificationError
	err := verifier(other.pool(), other.pool()).get(srv.URL, "secr.test")
	if !errors.As(err, &unknown) || !errors.As(err, &verr) || systemReads != 1 {
		t.Fatalf("CA in neither: %v", err)
	}
	var host x509.HostnameError
	if err := verifier(ca.pool(), ca.pool()).get(srv.URL, "evil.test"); !errors.As(err, &host) {
		t.Fatalf("another name: %v", err)
	}
	expired := tlsServer(t, ca.leaf(t, x509.ExtKeyUsageServerAuth, now.Add(-2*time.Hour), now.Add(-time.Hour), "secr.test"))
	var invalid x509.CertificateInvalidError
	if err := verifier(ca.pool(), ca.pool()).get(expired.URL, "secr.test"); !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
		t.Fatalf("expired: %v", err)
	}
	// A certificate for client authentication only is not a server's.
	clientOnly := tlsServer(t, ca.leaf(t, x509.ExtKeyUsageClientAuth, now.Add(-time.Minute), now.Add(time.Hour), "secr.test"))
	var usage x509.CertificateInvalidError
	if err := verifier(ca.pool(), ca.pool()).get(clientOnly.URL, "secr.test"); !errors.As(err, &usage) || usage.Reason != x509.IncompatibleUsage {
		t.Fatalf("a client-auth certificate: %v", err)
	}
}

// TestBundleFirstApplies: bundle-first verification is used on Linux only;
// its bundle is $SSL_CERT_FILE when that is set, as in Go's system pool.
func TestBundleFirstApplies(t *testing.T) {
	for _, goos := range []string{"darwin", "windows", "freebsd"} {
		if bundleFirstTLS(goos, func(string) string { return "" }) != nil {
			t.Fatalf("used on %s", goos)
		}
	}
	// A server whose CA is in the file SSL_CERT_FILE names: verified by
	// the bundle alone.
	ca := newTestCA(t, "file CA")
	now := time.Now()
	srv := tlsServer(t, ca.leaf(t, x509.ExtKeyUsageServerAuth, now.Add(-time.Minute), now.Add(time.Hour), "secr.test"))
	file := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := bundleFirstTLS("linux", func(k string) string {
		if k == "SSL_CERT_FILE" {
			return file
		}
		return ""
	})
	if cfg == nil {
		t.Fatal("not used on Linux")
	}
	cfg.ServerName = "secr.test"
	resp, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}).Get(srv.URL)
	if err != nil {
		t.Fatalf("CA in $SSL_CERT_FILE: %v", err)
	}
	resp.Body.Close()
	if readBundle([]string{filepath.Join(t.TempDir(), "none.pem"), file}) == nil || readBundle(nil) != nil {
		t.Fatal("readBundle does not take the first file that reads")
	}
}

// TestIssuersIn: of a bundle, only the certificates that can have issued
// one of the chain's are taken, and the pool of them verifies the chain.
func TestIssuersIn(t *testing.T) {
	ca, other := newTestCA(t, "test CA"), newTestCA(t, "other CA")
	now := time.Now()
	leafCert := ca.leaf(t, x509.ExtKeyUsageServerAuth, now.Add(-time.Minute), now.Add(time.Hour), "secr.test")
	leaf, err := x509.ParseCertificate(leafCert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	var bundle []byte
	for _, c := range []*x509.Certificate{other.cert, ca.cert} {
		bundle = append(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	bundle = append(bundle, "junk after the blocks\n"...)
	pool := issuersIn(bundle, []*x509.Certificate{leaf})
	if pool == nil {
		t.Fatal("the issuer was not taken")
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "secr.test"}); err != nil {
		t.Fatalf("the issuers' pool does not verify the chain: %v", err)
	}
	// Only the issuer: other CA's pool alone would not verify, and is not in it.
	otherOnly := issuersIn(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: other.cert.Raw}), []*x509.Certificate{leaf})
	if otherOnly != nil {
		t.Fatal("a certificate that did not issue the chain was taken")
	}
	if issuersIn(nil, []*x509.Certificate{leaf}) != nil {
		t.Fatal("no bundle gave a pool")
	}
}

// TestNewUsesBundleFirst: a client for an https:// server verifies bundle
// first where that applies (this test's own environment decides), and a
// client for http:// does not.
func TestNewUsesBundleFirst(t *testing.T) {
	tr := func(url string) *http.Transport {
		c, err := New(url)
		if err != nil {
			t.Fatal(err)
		}
		ht, ok := c.http.Transport.(*http.Transport)
		if !ok {
			t.Skip("a proxy is configured: the default transport is used")
		}
		return ht
	}
	want := bundleFirstTLS(runtime.GOOS, os.Getenv) != nil
	if got := tr("https://127.0.0.1:7700").TLSClientConfig; (got != nil && got.VerifyConnection != nil) != want {
		t.Fatalf("https client: bundle-first %v, want %v", got != nil, want)
	}
	if got := tr("http://127.0.0.1:7700").TLSClientConfig; got != nil && got.VerifyConnection != nil {
		t.Fatal("an http:// client verifies TLS its own way")
	}
}
