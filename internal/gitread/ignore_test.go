package gitread

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestIgnoreAgreesWithGit builds a tree with .gitignore files at several
// levels and checks every path against `git check-ignore`.
func TestIgnoreAgreesWithGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git binary to compare with")
	}
	dir := t.TempDir()
	gitCmd(t, dir, "init", "-q")
	files := map[string]string{
		".gitignore":            "*.log\n/build/\n!keep.log\n.env*\n!.env.example\ndocs/**/*.tmp\nsecret\n\\#hash\nlogs/**\n!logs/keep.txt\nvendor/\n",
		"sub/.gitignore":        "local.txt\n/anchored.txt\n*.bak\n!important.bak\n",
		"sub/deeper/.gitignore": "!*.log\n",
		"a.log":                 "", "keep.log": "", "sub/b.log": "", "sub/deeper/c.log": "",
		"build/out.txt": "", "sub/build/out.txt": "",
		".env": "", ".env.old": "", ".env.example": "", "sub/.env.local": "",
		"docs/x.tmp": "", "docs/a/b/y.tmp": "", "docs/z.txt": "",
		"secret": "", "sub/secret/f.txt": "",
		"#hash": "", "logs/a.txt": "", "logs/keep.txt": "", "logs/sub/b.txt": "",
		"vendor/v.go": "", "sub/vendor": "",
		"sub/local.txt": "", "sub/deeper/local.txt": "", "sub/anchored.txt": "", "sub/deeper/anchored.txt": "",
		"sub/x.bak": "", "sub/important.bak": "", "sub/deeper/y.bak": "",
		"plain.txt": "", "sub/plain.txt": "",
	}
	var paths []string
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if filepath.Base(p) != ".gitignore" {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	// What git ignores.
	cmd := exec.Command("git", "check-ignore", "--stdin")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(strings.Join(paths, "\n") + "\n")
	out, _ := cmd.Output() // exit 1 when nothing is ignored
	want := map[string]bool{}
	for _, p := range strings.Fields(string(out)) {
		want[p] = true
	}
	if len(want) < 15 || len(want) > len(paths)-5 {
		t.Fatalf("git ignores %d of %d paths: the fixture does not exercise the rules", len(want), len(paths))
	}
	// What these patterns ignore, checked as a walker does: a path is
	// ignored if it, or a directory above it, is.
	var pats []IgnorePattern
	for _, gi := range []string{".gitignore", "sub/.gitignore", "sub/deeper/.gitignore"} {
		var domain []string
		if d := filepath.Dir(gi); d != "." {
			domain = strings.Split(d, "/")
		}
		for _, line := range strings.Split(files[gi], "\n") {
			if p, ok := ParseIgnore(line, domain); ok {
				pats = append(pats, p)
			}
		}
	}
	ignored := func(segs []string, isDir bool) bool {
		for i := len(pats) - 1; i >= 0; i-- {
			switch pats[i].Match(segs, isDir) {
			case Exclude:
				return true
			case Include:
				return false
			}
		}
		return false
	}
	for _, p := range paths {
		segs := strings.Split(p, "/")
		got := false
		for k := 1; k <= len(segs) && !got; k++ {
			got = ignored(segs[:k], k < len(segs))
		}
		if got != want[p] {
			t.Errorf("%s: ignored=%v, git says %v", p, got, want[p])
		}
	}
}
