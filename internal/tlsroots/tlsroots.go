// Package tlsroots remembers which system root certificate verified each
// server, so that the next process can verify that server against that one
// root instead of loading the whole system pool.
//
// On Linux, crypto/x509 builds the system pool by parsing every certificate
// in the CA bundle and then every file of /etc/ssl/certs, where Debian keeps
// each CA a second time: 15–22 ms on the project's machine, three times
// everything else `secr run` does. A pool from Hints.Pool holds one
// certificate, found by its SHA-256 in the same bundle file crypto/x509
// reads. It is therefore always a subset of the system pool: an edited,
// stale or hostile hint can make verification fail (the caller then retries
// with the system pool, see package client), never make it trust more.
// Verification itself stays crypto/tls's: names, expiry, key usage and
// chain building are untouched.
package tlsroots

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/secr-dev/secr/internal/config"
)

// maxHints bounds the file: one line per server, the most recent first.
const maxHints = 32

// bundleFiles are crypto/x509's candidates for the CA bundle on Linux
// (root_linux.go), in its order: the first that can be read is the bundle.
// They must stay in step with the Go release that builds secr: were Go to
// read another file first on a machine that has both, a hint could pick a
// CA that Go does not trust. TestAttackTLS_BundleFilesAreCryptoX509s
// compares them with the Go source it is built with.
var bundleFiles = [...]string{
	"/etc/ssl/certs/ca-certificates.crt",
	"/etc/pki/tls/certs/ca-bundle.crt",
	"/etc/ssl/ca-bundle.pem",
	"/etc/pki/tls/cacert.pem",
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
	"/etc/ssl/cert.pem",
}

// Hints is the file of remembered roots: per server, the SHA-256 of the
// root certificate's DER encoding and where it sits in the bundle. It holds
// nothing secret; it is written 0600 like the rest of secr's cache.
type Hints struct {
	Path string
}

// Pool returns a pool holding only the root that verified hostport last
// time, or nil when there is no hint, the platform is not Linux, or the
// bundle no longer holds that root: the caller then verifies against the
// system pool.
func (h *Hints) Pool(hostport string) *x509.CertPool {
	if runtime.GOOS != "linux" || h == nil {
		return nil
	}
	sum, offset, ok := h.lookup(hostport)
	if !ok {
		return nil
	}
	bundle, ok := readBundle()
	if !ok {
		return nil
	}
	der, _, ok := find(bundle, sum, offset)
	if !ok {
		return nil
	}
	root, err := x509.ParseCertificate(der)
	if err != nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	return pool
}

// Remember records the root of the first of chains (as crypto/tls verified
// them against the system pool) for hostport, if the bundle holds it. A
// root found only in a certificate directory is not remembered: Pool
// looks in the bundle alone.
func (h *Hints) Remember(hostport string, chains [][]*x509.Certificate) error {
	if runtime.GOOS != "linux" || h == nil || len(chains) == 0 || len(chains[0]) == 0 {
		return nil
	}
	root := chains[0][len(chains[0])-1]
	sum := sha256.Sum256(root.Raw)
	old, _, hinted := h.lookup(hostport)
	if hinted && old == sum {
		return nil
	}
	var lines []string
	if bundle, ok := readBundle(); ok {
		if _, offset, ok := find(bundle, sum, -1); ok {
			lines = []string{hostport + " " + hex.EncodeToString(sum[:]) + " " + strconv.Itoa(offset)}
		}
	}
	// A root that is not in the bundle (a certificate directory holds it)
	// cannot be remembered, but a hint it proved wrong still goes: kept, it
	// would make every process fail a handshake before the real one.
	if lines == nil && !hinted {
		return nil
	}
	for _, l := range h.lines() {
		if len(lines) == maxHints {
			break
		}
		if name, _, _ := strings.Cut(l, " "); name != hostport {
			lines = append(lines, l)
		}
	}
	return config.WritePrivate(h.Path, []byte(strings.Join(lines, "\n")+"\n"))
}

// lines returns the file's lines; a missing or unreadable file has none.
func (h *Hints) lines() []string {
	data, err := os.ReadFile(h.Path)
	if err != nil {
		return nil
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if l := sc.Text(); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// lookup returns hostport's hint. A line that does not parse is ignored:
// the file is a cache, and the next verification rewrites it.
func (h *Hints) lookup(hostport string) (sum [32]byte, offset int, ok bool) {
	for _, l := range h.lines() {
		f := strings.Fields(l)
		if len(f) != 3 || f[0] != hostport {
			continue
		}
		b, err := hex.DecodeString(f[1])
		n, nerr := strconv.Atoi(f[2])
		if err != nil || len(b) != len(sum) || nerr != nil || n < 0 {
			return sum, 0, false
		}
		copy(sum[:], b)
		return sum, n, true
	}
	return sum, 0, false
}

// readBundle reads the file crypto/x509 reads first: $SSL_CERT_FILE if set,
// else the first readable of bundleFiles. It reads the process environment
// itself, not an injected one, because it must name the same file as
// crypto/x509, which does.
func readBundle() ([]byte, bool) {
	files := bundleFiles[:]
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		files = []string{f}
	}
	for _, f := range files {
		if data, err := os.ReadFile(f); err == nil {
			return data, true
		}
	}
	return nil, false
}

var beginCert = []byte("-----BEGIN CERTIFICATE-----")

// find returns the DER of the certificate in bundle whose SHA-256 is sum,
// and the offset of its PEM block. It tries the block at offset first (the
// bundle has usually not changed since the hint was written), then all.
func find(bundle []byte, sum [32]byte, offset int) (der []byte, at int, ok bool) {
	if offset >= 0 && offset < len(bundle) && bytes.HasPrefix(bundle[offset:], beginCert) {
		if der, ok := certAt(bundle, offset, sum); ok {
			return der, offset, true
		}
	}
	for at := 0; ; {
		i := bytes.Index(bundle[at:], beginCert)
		if i < 0 {
			return nil, 0, false
		}
		at += i
		if der, ok := certAt(bundle, at, sum); ok {
			return der, at, true
		}
		at += len(beginCert)
	}
}

// certAt decodes the PEM certificate block at offset and reports whether
// its DER hashes to sum. A block with headers does not count: crypto/x509
// skips those too (CertPool.AppendCertsFromPEM). Nor does a BEGIN that does
// not start a line: pem.Decode, reading the whole bundle, skips it (in a
// header value, after a "#"), while decoding from offset would take it.
// From the start of a line, pem.Decode only ever takes blocks whose BEGIN
// starts a line, and those the whole bundle's decoding takes too.
func certAt(bundle []byte, offset int, sum [32]byte) ([]byte, bool) {
	if offset > 0 && bundle[offset-1] != '\n' {
		return nil, false
	}
	block, _ := pem.Decode(bundle[offset:])
	if block == nil || block.Type != "CERTIFICATE" || len(block.Headers) != 0 || sha256.Sum256(block.Bytes) != sum {
		return nil, false
	}
	return block.Bytes, true
}
