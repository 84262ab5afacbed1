//go:build unix

package runner

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestMountEachReaderOnce: every open-read-close of the mount sees the
// content exactly once, also when a second reader opens the path while the
// first has not reached end of file yet.
func TestMountEachReaderOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "live.env")
	content := bytes.Repeat([]byte("API_KEY='v1'\n"), 200)
	m, err := StartMount(path, content, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for i := range 5 {
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, content) {
			t.Fatalf("read %d: %d bytes (want %d), %v", i, len(got), len(content), err)
		}
	}
	first, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	buf := make([]byte, len(content))
	if _, err := first.Read(buf[:1]); err != nil {
		t.Fatal(err)
	}
	second, err := os.ReadFile(path) // opens while first is still reading
	if err != nil || !bytes.Equal(second, content) {
		t.Fatalf("second reader: %d bytes, %v", len(second), err)
	}
	rest, err := readAll(first)
	if err != nil || len(rest)+1 != len(content) {
		t.Fatalf("first reader got %d bytes, want %d: %v", len(rest)+1, len(content), err)
	}
	m.Update([]byte("NEW=1\n"))
	if got, _ := os.ReadFile(path); string(got) != "NEW=1\n" {
		t.Fatalf("after Update: %q", got)
	}
	m.Close()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("pipe left behind after Close: %v", err)
	}
	if leftovers, _ := filepath.Glob(path + ".*"); len(leftovers) != 0 {
		t.Fatalf("temporary pipes left behind: %q", leftovers)
	}
}

func readAll(f *os.File) ([]byte, error) {
	var out bytes.Buffer
	_, err := out.ReadFrom(f)
	return out.Bytes(), err
}
