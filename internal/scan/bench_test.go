package scan

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// benchData returns 1,000 random secrets (alnum, hex and base64 shapes, 16
// to 64 bytes) and size bytes of text with hex and base64 ids in it, with a
// few values planted.
func benchData(size int) ([]Secret, []byte) {
	r := rand.New(rand.NewPCG(1, 1))
	rs := func(alpha string, n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alpha[r.IntN(len(alpha))]
		}
		return string(b)
	}
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	secs := make([]Secret, 1000)
	for i := range secs {
		var v string
		switch i % 3 {
		case 0:
			v = rs(alnum, 16+r.IntN(33))
		case 1:
			v = rs("0123456789abcdef", 32+r.IntN(33))
		default:
			v = rs(alnum+"+/", 20+r.IntN(40))
		}
		secs[i] = Secret{Name: fmt.Sprintf("S%d", i), Environment: "bench", Value: v}
	}
	words := []string{"func", "return", "if", "err", "nil", "ctx", "request", "handler", "config", "value", "the", "of", "to", "user", "token"}
	var b bytes.Buffer
	for b.Len() < size {
		switch r.IntN(3) {
		case 0:
			fmt.Fprintf(&b, "2026-11-29T08:00:00Z INFO id=%s status=200 path=/api/v1/%d\n", rs("0123456789abcdef", 32), r.IntN(1e5))
		case 1:
			fmt.Fprintf(&b, `{"id": "%s", "etag": "%s"},`+"\n", rs("0123456789abcdef", 12), rs(alnum+"+/", 24))
		default:
			for range 10 {
				b.WriteString(words[r.IntN(len(words))] + " ")
			}
			b.WriteByte('\n')
		}
		if r.IntN(5000) == 0 {
			b.WriteString(secs[r.IntN(len(secs))].Value + "\n")
		}
	}
	return secs, b.Bytes()
}

func benchMatcher(b *testing.B, encs []Encoding, extra ...Secret) {
	secs, data := benchData(16 << 20)
	secs = append(secs, extra...)
	s, err := New(secs, Options{Encodings: encs})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		n := 0
		s.m.find(data, func(int, int) { n++ })
	}
	b.ReportMetric(float64(len(s.m.patterns)), "patterns")
}

// The matcher alone, in memory, 1,000 secrets.
func BenchmarkMatcherRaw(b *testing.B)          { benchMatcher(b, []Encoding{Raw}) }
func BenchmarkMatcherAllEncodings(b *testing.B) { benchMatcher(b, nil) }

// One 8-byte value among them: the sampling stride drops from 13 to 5.
func BenchmarkMatcherRawShortest8(b *testing.B) {
	benchMatcher(b, []Encoding{Raw}, Secret{Name: "SHORT", Environment: "bench", Value: "Pa55w0rd"})
}

// Tree on 200 files of 80 KB (16 MB) from the page cache, 1,000 secrets,
// every encoding: the matcher plus open/read/close and the walk.
func BenchmarkTree(b *testing.B) {
	secs, data := benchData(16 << 20)
	root := b.TempDir()
	per := len(data) / 200
	for i := range 200 {
		dir := filepath.Join(root, fmt.Sprint(i%10))
		os.MkdirAll(dir, 0o755)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d.txt", i)), data[i*per:(i+1)*per], 0o644); err != nil {
			b.Fatal(err)
		}
	}
	s, err := New(secs, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(per * 200))
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Tree(context.Background(), []string{root}); err != nil {
			b.Fatal(err)
		}
	}
}

// New with 1,000 secrets and every encoding (11,000-odd patterns).
func BenchmarkNew(b *testing.B) {
	secs, _ := benchData(0)
	for b.Loop() {
		if _, err := New(secs, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
