package gitread

import (
	"os"
	"path/filepath"
	"testing"
)

// Hostile repositories: malformed deltas, trees and indexes give errors,
// never a panic or an unbounded allocation.

func FuzzApplyDelta(f *testing.F) {
	f.Add([]byte("hello"), []byte{5, 7, 0x90, 5, 2, '!', '!'})
	f.Add([]byte{}, []byte{0, 0xff, 0xff, 0xff, 0x7f})
	f.Add([]byte("abc"), []byte{3, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, base, delta []byte) {
		out, err := applyDelta(base, delta)
		if err == nil && len(out) > MaxObjectSize {
			t.Fatalf("result of %d bytes", len(out))
		}
	})
}

func FuzzIndex(f *testing.F) {
	f.Add([]byte("DIRC\x00\x00\x00\x02\x00\x00\x00\x01"))
	f.Add([]byte("DIRC\x00\x00\x00\x04\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "index"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		r := &Repo{GitDir: dir, CommonDir: dir}
		_, _ = r.Index()
	})
}

func FuzzTree(f *testing.F) {
	f.Add([]byte("100644 a\x00aaaaaaaaaaaaaaaaaaaa"))
	f.Add([]byte("40000 d"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = parseTree(Hash{}, data)
	})
}
