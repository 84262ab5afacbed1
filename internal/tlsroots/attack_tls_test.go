package tlsroots

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/secr-dev/secr/internal/tlsroots/roottest"
)

// verifies reports whether a server certificate issued by ca verifies
// against roots (the name is the one roottest's server certificates carry).
func verifies(t *testing.T, roots *x509.CertPool, ca *roottest.CA) bool {
	t.Helper()
	if roots == nil {
		return false
	}
	leaf, err := x509.ParseCertificate(ca.Server().Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "127.0.0.1"})
	return err == nil
}

// The narrowed pool must be a subset of what crypto/x509 takes from the
// same bundle (CertPool.AppendCertsFromPEM, as loadSystemRoots calls it).
// pem.Decode only takes a BEGIN line at the start of a line; find takes
// "-----BEGIN CERTIFICATE-----" anywhere, and decodes from there as if it
// were the start of the data. So a certificate that crypto/x509 skips is
// trusted through a hint: for example an administrator "disables" a CA in
// the bundle by commenting out its BEGIN line, after secr remembered it.
func TestAttackTLS_PoolTakesBlockX509Skips(t *testing.T) {
	for name, disable := range map[string]func(pemCert []byte) []byte{
		"BEGIN line commented out": func(p []byte) []byte { return append([]byte("#"), p...) },
		"BEGIN inside a header value": func(p []byte) []byte {
			// crypto/x509 sees one block with a header (and skips it, as
			// certAt's own comment says); find also sees the inner BEGIN.
			return append([]byte("-----BEGIN CERTIFICATE-----\nNote: "), p...)
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t)
			distrusted := f.cas[1]
			// secr remembered the root while it was trusted.
			if err := f.hints.Remember(host, chain(distrusted)); err != nil {
				t.Fatal(err)
			}
			if !only(f.hints.Pool(host), distrusted) {
				t.Fatal("setup: the root was not remembered")
			}
			// Then the bundle stops trusting it, in a way crypto/x509 honours.
			var bundle []byte
			for _, ca := range f.cas {
				p := ca.PEM()
				if ca == distrusted {
					p = disable(p)
				}
				bundle = append(bundle, p...)
			}
			if err := os.WriteFile(f.bundle, bundle, 0o644); err != nil {
				t.Fatal(err)
			}
			system := x509.NewCertPool()
			system.AppendCertsFromPEM(bundle)
			if verifies(t, system, distrusted) {
				t.Fatal("setup: crypto/x509 still takes the disabled root")
			}
			if !verifies(t, system, f.cas[0]) || !verifies(t, system, f.cas[2]) {
				t.Fatal("setup: crypto/x509 lost the other roots")
			}
			if verifies(t, f.hints.Pool(host), distrusted) {
				t.Fatal("the hinted pool trusts a root that crypto/x509 does not take from the bundle: not a subset of the system pool")
			}
		})
	}
}

// A hint that no longer names the root verifying the server must not
// outlive the verification that proved it wrong. When the new root is one
// Remember cannot record (found in a certificate directory, not the bundle),
// the stale line stays, so every later process first makes a handshake that
// is bound to fail, then a second one against the whole system pool: slower
// than before the change, for good.
func TestAttackTLS_StaleHintOutlivesFallback(t *testing.T) {
	f := newFixture(t)
	if err := f.hints.Remember(host, chain(f.cas[0])); err != nil {
		t.Fatal(err)
	}
	// The server now chains to a root of the system pool that is not in the
	// bundle (a file of SSL_CERT_DIR or /etc/ssl/certs): crypto/tls verified
	// it there and the client hands its chain to Remember.
	dirOnly := roottest.NewCA("directory only")
	if err := f.hints.Remember(host, chain(dirOnly)); err != nil {
		t.Fatal(err)
	}
	if pool := f.hints.Pool(host); pool != nil {
		t.Fatal("the hint proved wrong is still used: every process will fail a handshake before the real one")
	}
	data, _ := os.ReadFile(f.hints.Path)
	if bytes.Contains(data, []byte(host)) {
		t.Fatalf("the stale hint is still in the file:\n%s", data)
	}
}

// Guard (holds on go1.26.8): the narrowed pool is a subset of the system
// pool only while bundleFiles is crypto/x509's certFiles, in its order. A
// Go release that adds a file ahead of the others, or reorders them, makes
// tlsroots read another bundle than crypto/x509 on a machine holding both,
// and so trust a CA crypto/x509 does not: not "no narrowing", as the
// comment on bundleFiles says. This reads the toolchain's own list.
func TestAttackTLS_BundleFilesAreCryptoX509s(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "src", "crypto", "x509", "root_linux.go"))
	if err != nil {
		t.Skipf("no crypto/x509 source: %v", err)
	}
	_, list, ok := bytes.Cut(src, []byte("var certFiles = []string{"))
	if !ok {
		t.Fatal("crypto/x509's root_linux.go has no certFiles list")
	}
	list, _, _ = bytes.Cut(list, []byte("\n}"))
	var goFiles []string
	for _, line := range strings.Split(string(list), "\n") {
		if f := strings.Split(line, `"`); len(f) >= 3 {
			goFiles = append(goFiles, f[1])
		}
	}
	if !slices.Equal(goFiles, bundleFiles[:]) {
		t.Fatalf("crypto/x509 reads the first of\n%q\ntlsroots the first of\n%q", goFiles, bundleFiles)
	}
}
