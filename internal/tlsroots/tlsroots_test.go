package tlsroots

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/secr-dev/secr/internal/tlsroots/roottest"
)

const host = "secr.example:443"

// fixture is a bundle of three CAs named by SSL_CERT_FILE, and an empty
// hints file.
type fixture struct {
	cas    []*roottest.CA
	bundle string
	hints  *Hints
}

func newFixture(t *testing.T) *fixture {
	if runtime.GOOS != "linux" {
		t.Skip("hints apply on Linux only")
	}
	dir := t.TempDir()
	f := &fixture{cas: []*roottest.CA{roottest.NewCA("first"), roottest.NewCA("second"), roottest.NewCA("third")}}
	f.bundle = filepath.Join(dir, "bundle.pem")
	f.writeBundle(t, f.cas...)
	t.Setenv("SSL_CERT_FILE", f.bundle)
	f.hints = &Hints{Path: filepath.Join(dir, "cache", "tls-roots")}
	return f
}

func (f *fixture) writeBundle(t *testing.T, cas ...*roottest.CA) {
	t.Helper()
	if err := os.WriteFile(f.bundle, roottest.Bundle(cas...), 0o644); err != nil {
		t.Fatal(err)
	}
}

func chain(ca *roottest.CA) [][]*x509.Certificate { return [][]*x509.Certificate{{ca.Cert}} }

// only reports whether pool holds exactly ca's certificate.
func only(pool *x509.CertPool, ca *roottest.CA) bool {
	want := x509.NewCertPool()
	want.AddCert(ca.Cert)
	return pool != nil && pool.Equal(want)
}

func TestRememberThenPool(t *testing.T) {
	f := newFixture(t)
	if f.hints.Pool(host) != nil {
		t.Fatal("a pool before anything was remembered")
	}
	if err := f.hints.Remember(host, chain(f.cas[1])); err != nil {
		t.Fatal(err)
	}
	if !only(f.hints.Pool(host), f.cas[1]) {
		t.Fatal("the pool is not the remembered root alone")
	}
	if f.hints.Pool("other.example:443") != nil {
		t.Fatal("a pool for a server that was not remembered")
	}
	fi, err := os.Stat(f.hints.Path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("hints file mode %v, want 0600", fi.Mode().Perm())
	}
}

// A hint can only choose among the bundle's certificates: a root that is
// not there gives no pool, whatever the hints file says.
func TestHintOutsideBundleGivesNoPool(t *testing.T) {
	f := newFixture(t)
	stranger := roottest.NewCA("first") // the same subject as a bundled CA
	sum := sha256.Sum256(stranger.Cert.Raw)
	if err := os.MkdirAll(filepath.Dir(f.hints.Path), 0o700); err != nil {
		t.Fatal(err)
	}
	line := fmt.Sprintf("%s %s 0\n", host, hex.EncodeToString(sum[:]))
	if err := os.WriteFile(f.hints.Path, []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	if f.hints.Pool(host) != nil {
		t.Fatal("a hint for a certificate outside the bundle gave a pool")
	}
	// Remembering it writes nothing either.
	if err := f.hints.Remember("other.example:443", chain(stranger)); err != nil {
		t.Fatal(err)
	}
	if f.hints.Pool("other.example:443") != nil {
		t.Fatal("a root outside the bundle was remembered")
	}
}

// The offset only saves a search: when the bundle has changed, the root is
// found wherever it now is, and a root that has left the bundle is not.
func TestBundleChanged(t *testing.T) {
	f := newFixture(t)
	if err := f.hints.Remember(host, chain(f.cas[2])); err != nil {
		t.Fatal(err)
	}
	f.writeBundle(t, f.cas[2], f.cas[0])
	if !only(f.hints.Pool(host), f.cas[2]) {
		t.Fatal("the root moved within the bundle and was not found")
	}
	f.writeBundle(t, f.cas[0], f.cas[1])
	if f.hints.Pool(host) != nil {
		t.Fatal("a pool for a root no longer in the bundle")
	}
}

// crypto/x509 skips PEM blocks with headers, so a hint must not find one.
func TestBlockWithHeadersIsNotARoot(t *testing.T) {
	f := newFixture(t)
	if err := f.hints.Remember(host, chain(f.cas[0])); err != nil {
		t.Fatal(err)
	}
	block := &pem.Block{Type: "CERTIFICATE", Headers: map[string]string{"Note": "x"}, Bytes: f.cas[0].Cert.Raw}
	if err := os.WriteFile(f.bundle, append(pem.EncodeToMemory(block), f.cas[1].PEM()...), 0o644); err != nil {
		t.Fatal(err)
	}
	if pool := f.hints.Pool(host); pool != nil {
		t.Fatal("a block with headers was taken as a root")
	}
}

func TestMalformedHintsAreIgnoredAndReplaced(t *testing.T) {
	f := newFixture(t)
	if err := os.MkdirAll(filepath.Dir(f.hints.Path), 0o700); err != nil {
		t.Fatal(err)
	}
	bad := host + " zz 0\n" + host + "\n\x00garbage\n" + host + " " + strings.Repeat("ab", 32) + " -5\n"
	if err := os.WriteFile(f.hints.Path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if f.hints.Pool(host) != nil {
		t.Fatal("a malformed hint gave a pool")
	}
	if err := f.hints.Remember(host, chain(f.cas[0])); err != nil {
		t.Fatal(err)
	}
	if !only(f.hints.Pool(host), f.cas[0]) {
		t.Fatal("remembering did not replace the malformed hint")
	}
}

func TestRememberReplacesAndBounds(t *testing.T) {
	f := newFixture(t)
	for i := range maxHints + 5 {
		if err := f.hints.Remember(fmt.Sprintf("h%d:443", i), chain(f.cas[i%3])); err != nil {
			t.Fatal(err)
		}
	}
	last := fmt.Sprintf("h%d:443", maxHints+4) // remembered with cas[0]
	if err := f.hints.Remember(last, chain(f.cas[1])); err != nil {
		t.Fatal(err)
	}
	lines := f.hints.lines()
	if len(lines) != maxHints {
		t.Fatalf("%d hints kept, want %d", len(lines), maxHints)
	}
	if f.hints.Pool("h0:443") != nil {
		t.Fatal("the oldest hint was kept past the bound")
	}
	if !only(f.hints.Pool(last), f.cas[1]) || strings.Count(strings.Join(lines, "\n"), last+" ") != 1 {
		t.Fatal("a server's new root did not replace its old one")
	}
}
