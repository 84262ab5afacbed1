package gitread

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// The reader is checked against git itself: a repository made and packed
// by the git binary (deltas, packed refs, an annotated tag, the stash, a
// linked worktree, index version 4), read back here and compared with what
// git says. secr never runs git; only this test does, and it skips without
// one.

func gitCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_SYSTEM=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func makeRepo(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git binary to build the test repository")
	}
	dir := t.TempDir()
	gitCmd(t, dir, "init", "-q", "-b", "main")
	big := strings.Repeat("line of a config file that changes a little each time\n", 200)
	for i := range 12 {
		os.WriteFile(filepath.Join(dir, "config.txt"), []byte(big+fmt.Sprintf("version %d\n", i)), 0o644)
		os.MkdirAll(filepath.Join(dir, "sub", "deep"), 0o755)
		os.WriteFile(filepath.Join(dir, "sub", "deep", fmt.Sprintf("f%d.env", i%3)), []byte(fmt.Sprintf("K=%d\n", i)), 0o644)
		gitCmd(t, dir, "add", "-A")
		gitCmd(t, dir, "commit", "-q", "-m", fmt.Sprintf("c%d", i))
	}
	gitCmd(t, dir, "tag", "-a", "v1", "-m", "annotated")
	gitCmd(t, dir, "checkout", "-q", "-b", "side", "HEAD~3")
	os.WriteFile(filepath.Join(dir, "side.txt"), []byte("only on a branch\n"), 0o644)
	gitCmd(t, dir, "add", "-A")
	gitCmd(t, dir, "commit", "-q", "-m", "side")
	gitCmd(t, dir, "checkout", "-q", "main")
	os.WriteFile(filepath.Join(dir, "stashed.txt"), []byte("stashed away\n"), 0o644)
	gitCmd(t, dir, "add", "stashed.txt")
	gitCmd(t, dir, "stash", "-q")
	gitCmd(t, dir, "gc", "-q", "--aggressive", "--prune=now")
	return dir
}

func TestReadsWhatGitWrote(t *testing.T) {
	dir := makeRepo(t)
	t.Run("offset deltas", func(t *testing.T) { compareWithGit(t, dir) })
	gitCmd(t, dir, "-c", "repack.useDeltaBaseOffset=false", "repack", "-q", "-a", "-d", "-f")
	t.Run("reference deltas", func(t *testing.T) { compareWithGit(t, dir) })
}

func compareWithGit(t *testing.T, dir string) {
	// After gc every object is in a pack and refs are packed.
	if loose, _ := filepath.Glob(filepath.Join(dir, ".git", "objects", "??", "*")); len(loose) != 0 {
		t.Fatalf("loose objects left after gc: %d", len(loose))
	}
	r, err := Open(filepath.Join(dir, "sub", "deep"))
	if err != nil {
		t.Fatal(err)
	}
	// Every object git lists, with the same type and content.
	all := strings.Fields(gitCmd(t, dir, "rev-list", "--all", "--objects", "--no-object-names"))
	if len(all) < 40 {
		t.Fatalf("only %d objects", len(all))
	}
	for _, name := range all {
		h, err := ParseHash(name)
		if err != nil {
			t.Fatal(err)
		}
		typ, data, err := r.Object(h)
		if err != nil {
			t.Fatalf("object %s: %v", name, err)
		}
		if want := gitCmd(t, dir, "cat-file", "-t", name); typ != want {
			t.Fatalf("object %s: type %s, git says %s", name, typ, want)
		}
		if typ == TypeBlob {
			cmd := exec.Command("git", "cat-file", "blob", name)
			cmd.Dir = dir
			want, _ := cmd.Output()
			if !bytes.Equal(data, want) {
				t.Fatalf("blob %s differs from git's", name)
			}
		}
	}
	// Commits reachable from all refs (branches, the annotated tag, the
	// stash) and HEAD: the same set git walks.
	want := strings.Fields(gitCmd(t, dir, "rev-list", "--all"))
	got := map[string]bool{}
	tips, err := r.RefTips()
	if err != nil {
		t.Fatal(err)
	}
	var queue []Hash
	for _, tip := range tips {
		h := tip
		for {
			target, isTag, err := r.TagTarget(h)
			if err != nil {
				t.Fatal(err)
			}
			if !isTag {
				break
			}
			h = target
		}
		queue = append(queue, h)
	}
	for len(queue) > 0 {
		h := queue[0]
		queue = queue[1:]
		if got[h.String()] {
			continue
		}
		c, err := r.Commit(h)
		if err != nil {
			t.Fatal(err)
		}
		got[h.String()] = true
		queue = append(queue, c.Parents...)
	}
	sort.Strings(want)
	var gotList []string
	for h := range got {
		gotList = append(gotList, h)
	}
	sort.Strings(gotList)
	if strings.Join(gotList, " ") != strings.Join(want, " ") {
		t.Fatalf("commits: got %d, git walks %d", len(gotList), len(want))
	}
	// A path in HEAD's tree.
	head, ok, err := r.Head()
	if err != nil || !ok {
		t.Fatalf("HEAD: %v", err)
	}
	c, _ := r.Commit(head)
	e, found, err := r.FindInTree(c.Tree, "sub/deep/f2.env")
	if err != nil || !found || e.Hash.String() != gitCmd(t, dir, "rev-parse", "HEAD:sub/deep/f2.env") {
		t.Fatalf("FindInTree: %+v %v %v", e, found, err)
	}
}

func TestIndexVersionsAndWorktree(t *testing.T) {
	dir := makeRepo(t)
	os.WriteFile(filepath.Join(dir, "new.env"), []byte("NEW=1\n"), 0o644)
	gitCmd(t, dir, "add", "new.env")
	for _, v := range []string{"2", "3", "4"} {
		gitCmd(t, dir, "update-index", "--index-version", v)
		r, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := r.Index()
		if err != nil {
			t.Fatalf("index v%s: %v", v, err)
		}
		var got []string
		for _, e := range entries {
			got = append(got, fmt.Sprintf("%o %s %s", e.Mode, e.Hash, e.Path))
		}
		var want []string
		for _, line := range strings.Split(gitCmd(t, dir, "ls-files", "-s"), "\n") {
			// "100644 <hash> 0\tpath"
			meta, p, _ := strings.Cut(line, "\t")
			f := strings.Fields(meta)
			want = append(want, fmt.Sprintf("%s %s %s", f[0], f[1], p))
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("index v%s:\n%s\ngit:\n%s", v, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	// A linked worktree: its own HEAD and index, the common objects.
	wt := filepath.Join(t.TempDir(), "wt")
	gitCmd(t, dir, "worktree", "add", "-q", wt, "side")
	r, err := Open(wt)
	if err != nil {
		t.Fatal(err)
	}
	head, ok, err := r.Head()
	if err != nil || !ok || head.String() != gitCmd(t, wt, "rev-parse", "HEAD") {
		t.Fatalf("worktree HEAD: %s %v %v", head, ok, err)
	}
	if r.CommonDir != filepath.Join(dir, ".git") || r.Top != wt {
		t.Fatalf("worktree dirs: %+v", r)
	}
	if _, err := r.Index(); err != nil {
		t.Fatal(err)
	}
}

func TestHooksPath(t *testing.T) {
	dir := makeRepo(t)
	gitCmd(t, dir, "config", "core.hooksPath", ".githooks")
	r, _ := Open(dir)
	if got := r.HooksPath(); got != ".githooks" {
		t.Fatalf("hooksPath %q", got)
	}
}

func TestMalformedInputsAreErrors(t *testing.T) {
	for _, d := range [][]byte{
		{}, {5}, {5, 3}, // source size only, wrong
		{0, 2, 0},          // zero insert
		{0, 3, 0x91, 0, 3}, // copy outside an empty base
	} {
		if _, err := applyDelta(nil, d); err == nil {
			t.Errorf("delta %v applied", d)
		}
	}
	if out, err := applyDelta([]byte("hello"), []byte{5, 7, 0x90, 5, 2, '!', '!'}); err != nil || string(out) != "hello!!" {
		t.Fatalf("copy+insert: %q %v", out, err)
	}
}

// TestHostilePackIsAnError: a pack whose object is a reference delta
// against itself ends in an error, not endless recursion.
func TestHostilePackIsAnError(t *testing.T) {
	dir := t.TempDir()
	packDir := filepath.Join(dir, "objects", "pack")
	os.MkdirAll(packDir, 0o755)
	os.MkdirAll(filepath.Join(dir, "refs"), 0o755)
	os.WriteFile(filepath.Join(dir, "HEAD"), []byte("ref: refs/heads/main\n"), 0o644)
	self, _ := ParseHash("1111111111111111111111111111111111111111")
	// The pack: header, then one object at offset 12: kind 7 (ref delta),
	// size 5, the base's name (itself), then a zlib stream.
	pack := []byte("PACK\x00\x00\x00\x02\x00\x00\x00\x01")
	pack = append(pack, 0x75)
	pack = append(pack, self[:]...)
	pack = append(pack, 0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01)
	os.WriteFile(filepath.Join(packDir, "p.pack"), pack, 0o644)
	idx := []byte{0xff, 't', 'O', 'c', 0, 0, 0, 2}
	for i := 0; i < 256; i++ {
		n := byte(0)
		if i >= 0x11 {
			n = 1
		}
		idx = append(idx, 0, 0, 0, n)
	}
	idx = append(idx, self[:]...)
	idx = append(idx, 0, 0, 0, 0)  // CRC
	idx = append(idx, 0, 0, 0, 12) // offset
	os.WriteFile(filepath.Join(packDir, "p.idx"), idx, 0o644)
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Object(self); err == nil {
		t.Fatal("a self-referencing delta was read")
	}
}
