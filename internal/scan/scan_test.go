package scan

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/secr-dev/secr/internal/dotenv"
)

// The value has characters that every escaping changes: / + & = < > " and
// a space, so that each encoding is a different byte string.
const value = `s3cr3t/Val+ue&x=<y> "q" 42~?`

var secrets = []Secret{
	{Name: "API_KEY", Environment: "production", Value: value},
	{Name: "PORT", Environment: "production", Value: "8080808080", NotSecret: true},
	{Name: "PIN", Environment: "production", Value: "1234567"}, // 7 bytes: too short
}

// leakCheck collects every string the package produced in a test and fails
// if one contains the value in any form.
type leakCheck struct {
	t      *testing.T
	values []string
}

func newLeakCheck(t *testing.T, vals ...string) *leakCheck {
	l := &leakCheck{t: t}
	for _, v := range vals {
		l.values = append(l.values, v, hex.EncodeToString([]byte(v)), base64.StdEncoding.EncodeToString([]byte(v)))
	}
	return l
}

func (l *leakCheck) check(what string, xs ...any) {
	l.t.Helper()
	for _, x := range xs {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			out := fmt.Sprintf(verb, x)
			for _, v := range l.values {
				if strings.Contains(out, v) {
					l.t.Fatalf("%s: %s output of %T contains a secret value", what, verb, x)
				}
			}
		}
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustNew(t *testing.T, secs []Secret, opts Options) *Scanner {
	t.Helper()
	s, err := New(secs, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func tree(t *testing.T, s *Scanner, roots ...string) *Result {
	t.Helper()
	res, err := s.Tree(context.Background(), roots)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// found returns "relpath:line:encoding" for each finding.
func found(root string, res *Result) []string {
	var out []string
	for _, f := range res.Findings {
		rel, err := filepath.Rel(root, f.Path)
		if err != nil {
			rel = f.Path
		}
		out = append(out, fmt.Sprintf("%s:%d:%s:%s", filepath.ToSlash(rel), f.Line, f.Name, f.Encoding))
	}
	return out
}

func jsonString(v string) string {
	b, _ := json.Marshal(map[string]string{"token": v})
	return string(b)
}

func TestTreeFindsEveryEncoding(t *testing.T) {
	root := t.TempDir()
	v := []byte(value)
	files := map[string]string{
		"raw.txt":        "a\nb\nkey = " + value + " # oops\n",
		"b64.yaml":       "data:\n  key: " + base64.StdEncoding.EncodeToString(v) + "\n",
		"b64nopad.txt":   base64.RawStdEncoding.EncodeToString(v),
		"b64url.txt":     "x\n" + base64.URLEncoding.EncodeToString(v),
		"b64urlraw.txt":  "x\n\n" + base64.RawURLEncoding.EncodeToString(v),
		"hex.txt":        hex.EncodeToString(v),
		"HEX.txt":        strings.ToUpper(hex.EncodeToString(v)),
		"query.txt":      "https://example.com/cb?token=" + url.QueryEscape(value) + "&x=1",
		"path.txt":       "https://example.com/" + url.PathEscape(value) + "/x",
		"config.json":    "{\n  \"nested\": " + jsonString(value) + "\n}\n",
		"sub/deep/a.txt": "\n\n\n\n" + value,
		// A whole .env file base64-encoded into a Kubernetes Secret, the
		// value at each of the three alignments.
		"k8s-0.yaml": "data:\n  .env: " + base64.StdEncoding.EncodeToString([]byte("A=1\nKEY="+value+"\n")),
		"k8s-1.yaml": "data:\n  .env: " + base64.StdEncoding.EncodeToString([]byte("KEY="+value+"\n")),
		"k8s-2.yaml": "data:\n  .env: " + base64.URLEncoding.EncodeToString([]byte("A=12\nKEY="+value+"~\n")),
	}
	for name, content := range files {
		write(t, filepath.Join(root, name), content)
	}
	s := mustNew(t, secrets, Options{})
	res := tree(t, s, root)
	got := found(root, res)
	want := []string{
		"HEX.txt:1:API_KEY:HEX",
		"b64.yaml:2:API_KEY:base64",
		"b64nopad.txt:1:API_KEY:base64-nopad",
		"b64url.txt:2:API_KEY:base64url",
		"b64urlraw.txt:3:API_KEY:base64url-nopad",
		"config.json:2:API_KEY:json",
		"hex.txt:1:API_KEY:hex",
		"k8s-0.yaml:2:API_KEY:base64-embedded",
		"k8s-1.yaml:2:API_KEY:base64-embedded",
		"k8s-2.yaml:2:API_KEY:base64url-embedded",
		"path.txt:1:API_KEY:url-path",
		"query.txt:1:API_KEY:url-query",
		"raw.txt:3:API_KEY:raw",
		"sub/deep/a.txt:5:API_KEY:raw",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if res.Files != len(files) {
		t.Errorf("Files = %d, want %d", res.Files, len(files))
	}
	l := newLeakCheck(t, value)
	l.check("result", res, *res, res.Findings, s, *s, secrets, secrets[0])
	for _, f := range res.Findings {
		l.check("finding", f, f.String())
	}
}

func TestCleanTreeAndUnsearchedValues(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "main.go"), "package main\n\nfunc main() {}\n")
	// A not-secret value and a too-short one are present, but not searched.
	write(t, filepath.Join(root, "config.ini"), "port=8080808080\npin=1234567\n")
	write(t, filepath.Join(root, "empty"), "")
	res := tree(t, mustNew(t, secrets, Options{}), root)
	if len(res.Findings) != 0 {
		t.Fatalf("clean tree: findings %v", res.Findings)
	}
	if res.Files != 3 {
		t.Errorf("Files = %d, want 3", res.Files)
	}
	// No secret at all: a scanner that finds nothing.
	res = tree(t, mustNew(t, nil, Options{}), root)
	if len(res.Findings) != 0 {
		t.Fatal("empty scanner found something")
	}
}

func TestSameValueInTwoEnvironments(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "a.txt"), value)
	secs := []Secret{
		{Name: "API_KEY", Environment: "production", Value: value},
		{Name: "API_KEY", Environment: "staging", Value: value},
	}
	res := tree(t, mustNew(t, secs, Options{}), root)
	if len(res.Findings) != 2 || res.Findings[0].Environment == res.Findings[1].Environment {
		t.Fatalf("findings %v", res.Findings)
	}
}

func TestGitignoreAndDotenvListing(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, ".gitignore"), "# stale copies\n.env.old\nbuild/\n")
	write(t, filepath.Join(root, ".env.old"), "API_KEY="+value+"\n")
	write(t, filepath.Join(root, ".env"), "DEBUG=1\n")
	write(t, filepath.Join(root, "deploy", "prod.env"), "X=1\n")
	write(t, filepath.Join(root, "build", "out.txt"), value)
	write(t, filepath.Join(root, "build", ".env.production"), "Y=2\n")
	// Nested .gitignore with a negation.
	write(t, filepath.Join(root, "app", ".gitignore"), "*.log\n!keep.log\n")
	write(t, filepath.Join(root, "app", "debug.log"), value)
	write(t, filepath.Join(root, "app", "keep.log"), value)

	res := tree(t, mustNew(t, secrets, Options{}), root)
	if got, want := found(root, res), []string{"app/keep.log:1:API_KEY:raw"}; !slices.Equal(got, want) {
		t.Fatalf("default: %v, want %v", got, want)
	}
	var dot []string
	for _, d := range res.Dotenv {
		rel, _ := filepath.Rel(root, d.Path)
		dot = append(dot, fmt.Sprintf("%s:%t", filepath.ToSlash(rel), d.Ignored))
	}
	if want := []string{".env:false", ".env.old:true", "build/.env.production:true", "deploy/prod.env:false"}; !slices.Equal(dot, want) {
		t.Fatalf("dotenv listing %v, want %v", dot, want)
	}

	res = tree(t, mustNew(t, secrets, Options{IncludeIgnored: true}), root)
	want := []string{".env.old:1:API_KEY:raw", "app/debug.log:1:API_KEY:raw", "app/keep.log:1:API_KEY:raw", "build/out.txt:1:API_KEY:raw"}
	if got := found(root, res); !slices.Equal(got, want) {
		t.Fatalf("include ignored: %v, want %v", got, want)
	}
	if len(res.Dotenv) != 4 {
		t.Fatalf("dotenv listing with ignored files: %v", res.Dotenv)
	}
}

// A root below the top of a repository obeys the .gitignore files above it
// and .git/info/exclude.
func TestGitignoreAboveRoot(t *testing.T) {
	top := t.TempDir()
	if _, err := git.PlainInit(top, false); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(top, ".gitignore"), "secrets.txt\n")
	write(t, filepath.Join(top, ".git", "info", "exclude"), "local.txt\n")
	write(t, filepath.Join(top, "sub", "secrets.txt"), value)
	write(t, filepath.Join(top, "sub", "local.txt"), value)
	write(t, filepath.Join(top, "sub", "ok.txt"), value)
	res := tree(t, mustNew(t, secrets, Options{}), filepath.Join(top, "sub"))
	if got, want := found(filepath.Join(top, "sub"), res), []string{"ok.txt:1:API_KEY:raw"}; !slices.Equal(got, want) {
		t.Fatalf("%v, want %v", got, want)
	}
}

func TestMultiLineValue(t *testing.T) {
	pem := "-----BEGIN PRIVATE KEY-----\n" +
		"MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n" +
		"q2Zf8Jk3mXoP1vR9tLwY6nE4sH0uA5cD7bG2iK8lM3nO4pQ5rS6t\n" +
		"-----END PRIVATE KEY-----\n"
	secs := []Secret{{Name: "TLS_KEY", Environment: "production", Value: pem}}
	root := t.TempDir()
	// One line of the key pasted into a config.
	write(t, filepath.Join(root, "partial.conf"), "key_part = q2Zf8Jk3mXoP1vR9tLwY6nE4sH0uA5cD7bG2iK8lM3nO4pQ5rS6t\n")
	// The whole key: one finding, not one per line.
	write(t, filepath.Join(root, "key.pem"), "junk\n"+pem)
	// Another key file shares only the armour lines: no finding.
	write(t, filepath.Join(root, "other.pem"), "-----BEGIN PRIVATE KEY-----\nAAAAAAAAAAAAAAAAAAAA\n-----END PRIVATE KEY-----\n")
	res := tree(t, mustNew(t, secs, Options{}), root)
	if got, want := found(root, res), []string{"key.pem:2:TLS_KEY:raw", "partial.conf:1:TLS_KEY:line"}; !slices.Equal(got, want) {
		t.Fatalf("%v, want %v", got, want)
	}
	if f := res.Findings[1]; f.ValueLine != 3 || !strings.Contains(f.String(), "line 3 of the value") {
		t.Fatalf("ValueLine %d, String %q", f.ValueLine, f.String())
	}
	newLeakCheck(t, "q2Zf8Jk3mXoP1vR9tLwY6nE4sH0uA5cD7bG2iK8lM3nO4pQ5rS6t").check("multi-line", res, secs, mustNew(t, secs, Options{}))
}

func TestSymlinksAreNotFollowed(t *testing.T) {
	outside := t.TempDir()
	write(t, filepath.Join(outside, "leak.txt"), value)
	root := t.TempDir()
	write(t, filepath.Join(root, "fine.txt"), "nothing here")
	if err := os.Symlink(filepath.Join(outside, "leak.txt"), filepath.Join(root, "link.txt")); err != nil {
		t.Skip("symlinks unavailable:", err)
	}
	if err := os.Symlink(outside, filepath.Join(root, "linkdir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "leak.txt"), filepath.Join(root, ".env")); err != nil {
		t.Fatal(err)
	}
	res := tree(t, mustNew(t, secrets, Options{IncludeIgnored: true}), root)
	if len(res.Findings) != 0 {
		t.Fatalf("followed a symlink out of the tree: %v", res.Findings)
	}
	if len(res.Skipped) != 3 {
		t.Errorf("skipped %v", res.Skipped)
	}
	if len(res.Dotenv) != 1 || !res.Dotenv[0].Symlink {
		t.Errorf("dotenv %v", res.Dotenv)
	}
}

func TestBinaryFiles(t *testing.T) {
	root := t.TempDir()
	big := make([]byte, 4096)
	big[10] = 0
	copy(big[2000:], value)
	write(t, filepath.Join(root, "big.bin"), string(big))
	write(t, filepath.Join(root, "small.bin"), "\x00\x01"+value)
	// A large text file is read whatever its size.
	write(t, filepath.Join(root, "big.txt"), strings.Repeat("text ", 1000)+value)

	res := tree(t, mustNew(t, secrets, Options{MaxBinarySize: 1024}), root)
	if got, want := found(root, res), []string{"big.txt:1:API_KEY:raw", "small.bin:1:API_KEY:raw"}; !slices.Equal(got, want) {
		t.Fatalf("%v, want %v", got, want)
	}
	if len(res.Skipped) != 1 || !strings.Contains(res.Skipped[0].Reason, "binary") {
		t.Fatalf("skipped %v", res.Skipped)
	}
	res = tree(t, mustNew(t, secrets, Options{MaxBinarySize: 1024, ScanBinaries: true}), root)
	if len(res.Findings) != 3 {
		t.Fatalf("with ScanBinaries: %v", res.Findings)
	}
}

// Values that straddle the chunk boundaries of a large file are found once,
// with the right line numbers.
func TestLargeFileChunks(t *testing.T) {
	var b bytes.Buffer
	wantLines := map[int]bool{}
	line := 1
	for b.Len() < 5<<20 {
		if rand.IntN(2000) == 0 {
			b.WriteString("xx" + value + "yy")
			wantLines[line] = true
		}
		n := 20 + rand.IntN(200)
		b.WriteString(strings.Repeat("z", n) + "\n")
		line++
	}
	root := t.TempDir()
	write(t, filepath.Join(root, "big.log"), b.String())
	res := tree(t, mustNew(t, secrets, Options{}), root)
	got := map[int]bool{}
	for _, f := range res.Findings {
		if got[f.Line] {
			t.Fatalf("line %d reported twice", f.Line)
		}
		got[f.Line] = true
	}
	if len(got) != len(wantLines) {
		t.Fatalf("found %d, want %d", len(got), len(wantLines))
	}
	for l := range wantLines {
		if !got[l] {
			t.Fatalf("missed line %d", l)
		}
	}
	if res.Bytes != int64(b.Len()) {
		t.Fatalf("Bytes = %d, want %d", res.Bytes, b.Len())
	}
}

// The matcher against a naive search, on random patterns and text from a
// small alphabet so that overlaps and near-misses are frequent.
func TestMatcherAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	randStr := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = "abc"[r.IntN(3)]
		}
		return b
	}
	for round := range 50 {
		var pats [][]byte
		seen := map[string]bool{}
		for range 1 + r.IntN(30) {
			p := randStr(8 + r.IntN(12))
			if !seen[string(p)] {
				seen[string(p)] = true
				pats = append(pats, p)
			}
		}
		text := randStr(5000)
		m := newMatcher(pats)
		got := map[[2]int]int{}
		m.find(text, func(start, pat int) { got[[2]int{start, pat}]++ })
		want := 0
		for pi, p := range pats {
			for i := 0; i+len(p) <= len(text); i++ {
				if bytes.Equal(text[i:i+len(p)], p) {
					want++
					if got[[2]int{i, pi}] != 1 {
						t.Fatalf("round %d: pattern %d at %d found %d times", round, pi, i, got[[2]int{i, pi}])
					}
				}
			}
		}
		if len(got) != want {
			t.Fatalf("round %d: %d matches, want %d", round, len(got), want)
		}
	}
}

func TestNewErrorsHideValues(t *testing.T) {
	_, err := New(secrets, Options{Encodings: []Encoding{"rot13"}})
	if err == nil {
		t.Fatal("unknown encoding accepted")
	}
	s := mustNew(t, secrets, Options{})
	_, err2 := s.Tree(context.Background(), []string{filepath.Join(t.TempDir(), "missing")})
	if err2 == nil {
		t.Fatal("missing root accepted")
	}
	_, err3 := s.GitHistory(context.Background(), t.TempDir())
	if err3 == nil {
		t.Fatal("GitHistory outside a repository succeeded")
	}
	newLeakCheck(t, value).check("errors", err, err2, err3, err.Error(), err2.Error(), err3.Error())
}

func TestCancel(t *testing.T) {
	root := t.TempDir()
	for i := range 50 {
		write(t, filepath.Join(root, fmt.Sprint(i)), "x")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := mustNew(t, secrets, Options{}).Tree(ctx, []string{root}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

// --- git ---

func commitAll(t *testing.T, repo *git.Repository, msg string, when time.Time) string {
	t.Helper()
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	if err := wt.AddWithOptions(&git.AddOptions{All: true}); err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "t", Email: "t@example.com", When: when}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig, AllowEmptyCommits: true})
	if err != nil {
		t.Fatal(err)
	}
	return h.String()
}

func TestGitHistory(t *testing.T) {
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	write(t, filepath.Join(dir, "README"), "hello\n")
	commitAll(t, repo, "init", t0)
	write(t, filepath.Join(dir, "config", "app.yml"), "db:\n  password: "+value+"\n")
	write(t, filepath.Join(dir, ".env"), "API_KEY="+base64.StdEncoding.EncodeToString([]byte(value))+"\n")
	c2 := commitAll(t, repo, "add config", t0.Add(time.Hour))
	// A later version of the file that keeps the value did not introduce it.
	write(t, filepath.Join(dir, "config", "app.yml"), "db:\n  host: x\n  password: "+value+"\n")
	commitAll(t, repo, "add host", t0.Add(90*time.Minute))
	os.Remove(filepath.Join(dir, "config", "app.yml"))
	os.Remove(filepath.Join(dir, ".env"))
	commitAll(t, repo, "remove the leak", t0.Add(2*time.Hour))
	// The same blob again later: it is reported once, at its first commit.
	write(t, filepath.Join(dir, "copy.yml"), "db:\n  password: "+value+"\n")
	commitAll(t, repo, "copy", t0.Add(3*time.Hour))

	s := mustNew(t, secrets, Options{})
	res, err := s.GitHistory(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range res.Findings {
		got = append(got, fmt.Sprintf("%s %s:%d %s", f.Commit, f.Path, f.Line, f.Encoding))
	}
	want := []string{c2 + " .env:1 base64", c2 + " config/app.yml:2 raw"}
	if !slices.Equal(got, want) {
		t.Fatalf("history:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(res.Dotenv) != 1 || res.Dotenv[0].Path != ".env" || res.Dotenv[0].Commit != c2 {
		t.Fatalf("dotenv %v", res.Dotenv)
	}
	// The working tree is clean now.
	if tr := tree(t, s, dir); len(tr.Findings) != 1 || !strings.HasSuffix(tr.Findings[0].Path, "copy.yml") {
		t.Fatalf("tree %v", tr.Findings)
	}
	newLeakCheck(t, value).check("history", res, res.Findings[0].String())

	// Opened from a subdirectory, it finds the repository.
	os.MkdirAll(filepath.Join(dir, "docs"), 0o755)
	if sub, err := s.GitHistory(context.Background(), filepath.Join(dir, "docs")); err != nil || len(sub.Findings) != 2 {
		t.Fatalf("from a subdirectory: %v, %v", sub, err)
	}
}

func TestStaged(t *testing.T) {
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "old.txt"), value) // committed already: not the hook's business
	commitAll(t, repo, "init", time.Now())
	write(t, filepath.Join(dir, "new.json"), jsonString(value))
	write(t, filepath.Join(dir, "unstaged.txt"), value)
	write(t, filepath.Join(dir, ".env.local"), "A=b\n")
	wt, _ := repo.Worktree()
	if _, err := wt.Add("new.json"); err != nil {
		t.Fatal(err)
	}
	if _, err := wt.Add(".env.local"); err != nil {
		t.Fatal(err)
	}
	res, err := mustNew(t, secrets, Options{}).Staged(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Findings) != 1 || res.Findings[0].Path != "new.json" || res.Findings[0].Encoding != JSON {
		t.Fatalf("staged findings %v", res.Findings)
	}
	if len(res.Dotenv) != 1 || res.Dotenv[0].Path != ".env.local" {
		t.Fatalf("staged dotenv %v", res.Dotenv)
	}
}

// A repository with no commit yet: everything staged is new.
func TestStagedInitialCommit(t *testing.T) {
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "a.txt"), value)
	wt, _ := repo.Worktree()
	if _, err := wt.Add("a.txt"); err != nil {
		t.Fatal(err)
	}
	res, err := mustNew(t, secrets, Options{}).Staged(context.Background(), dir)
	if err != nil || len(res.Findings) != 1 {
		t.Fatalf("res %v err %v", res, err)
	}
}

func TestInstallHook(t *testing.T) {
	dir := t.TempDir()
	if _, err := git.PlainInit(dir, false); err != nil {
		t.Fatal(err)
	}
	hook, err := InstallHook(dir, "/opt/my secr/secr")
	if err != nil {
		t.Fatal(err)
	}
	if hook != filepath.Join(dir, ".git", "hooks", "pre-commit") {
		t.Fatalf("hook at %s", hook)
	}
	data, _ := os.ReadFile(hook)
	if !strings.Contains(string(data), "exec '/opt/my secr/secr' scan --staged\n") || !strings.HasPrefix(string(data), "#!/bin/sh\n") {
		t.Fatalf("hook:\n%s", data)
	}
	if runtime.GOOS != "windows" {
		if info, _ := os.Stat(hook); info.Mode()&0o111 == 0 {
			t.Fatal("hook not executable")
		}
	}
	// Reinstalling our own hook is fine.
	if _, err := InstallHook(dir, "secr"); err != nil {
		t.Fatal(err)
	}
	// A foreign hook is left alone.
	write(t, hook, "#!/bin/sh\nnpx lint-staged\n")
	if _, err := InstallHook(dir, "secr"); !errors.Is(err, ErrForeignHook) {
		t.Fatalf("err = %v", err)
	}
	if data, _ := os.ReadFile(hook); string(data) != "#!/bin/sh\nnpx lint-staged\n" {
		t.Fatal("foreign hook overwritten")
	}
}

// --- fix ---

func TestFixPlan(t *testing.T) {
	known := []Secret{
		{Name: "API_KEY", Environment: "production", Value: value},
		{Name: "API_KEY", Environment: "staging", Value: "other-value-123"},
		{Name: "DB_URL", Environment: "production", Value: "postgres://x"},
		{Name: "PORT", Environment: "production", Value: "8080", NotSecret: true},
	}
	entries, err := dotenv.Parse(".env", []byte("API_KEY='"+value+"'\nPORT=8080\n"))
	if err != nil {
		t.Fatal(err)
	}
	p := FixPlan(".env", entries, known)
	if !p.Deletable || p.Vars[0].Status != Same || !slices.Equal(p.Vars[0].Environments, []string{"production"}) || p.Vars[1].Status != Same {
		t.Fatalf("all held: %+v", p)
	}

	entries, _ = dotenv.Parse(".env", []byte("API_KEY='"+value+"'\nDB_URL=postgres://y\nNEW_TOKEN=abcdefghij\n"))
	p = FixPlan(".env", entries, known)
	if p.Deletable {
		t.Fatal("deletable with an unknown variable")
	}
	st := []VarStatus{p.Vars[0].Status, p.Vars[1].Status, p.Vars[2].Status}
	if !slices.Equal(st, []VarStatus{Same, Different, Missing}) || !strings.Contains(p.Reason, "NEW_TOKEN") {
		t.Fatalf("plan %+v", p)
	}
	newLeakCheck(t, value, "postgres://y", "abcdefghij").check("plan", p, p.String(), p.Vars)

	entries, _ = dotenv.Parse(".env", []byte("DB_URL=postgres://y\n"))
	if p := FixPlan(".env", entries, known); p.Deletable {
		t.Fatal("deletable with a different value")
	}
}

func TestSecureDelete(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".env")
	write(t, path, "API_KEY="+value+"\n")
	// A hard link sees the same blocks: after SecureDelete they are zeros.
	link := filepath.Join(dir, "hardlink")
	linked := os.Link(path, link) == nil
	if err := SecureDelete(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("file still there")
	}
	if linked {
		data, _ := os.ReadFile(link)
		if len(data) == 0 || bytes.Count(data, []byte{0}) != len(data) {
			t.Fatalf("not overwritten with zeros: %d bytes", len(data))
		}
	}
	// A symlink is refused, its target left alone.
	target := filepath.Join(dir, "target")
	write(t, target, "keep")
	if os.Symlink(target, filepath.Join(dir, "sym")) == nil {
		if err := SecureDelete(filepath.Join(dir, "sym")); !errors.Is(err, ErrNotRegular) {
			t.Fatalf("err = %v", err)
		}
		if data, _ := os.ReadFile(target); string(data) != "keep" {
			t.Fatal("target changed")
		}
	}
}

func TestFileRootsDuplicatesAndClose(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "prod.env")
	write(t, path, "A="+value+" B="+value+"\n")
	s := mustNew(t, secrets, Options{})
	res := tree(t, s, path)
	if len(res.Findings) != 1 || res.Findings[0].Path != path || res.Findings[0].Line != 1 {
		t.Fatalf("findings %v", res.Findings)
	}
	if len(res.Dotenv) != 1 || res.Dotenv[0].Path != path {
		t.Fatalf("dotenv %v", res.Dotenv)
	}
	s.Close()
	if res := tree(t, s, path); len(res.Findings) != 0 {
		t.Fatal("found something after Close")
	}
}

func TestDotenvFilesAndFixFile(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, ".gitignore"), ".env*\n")
	write(t, filepath.Join(root, ".env"), "API_KEY="+value+"\n")
	write(t, filepath.Join(root, "sub", ".env.local"), "API_KEY="+value+"\nOTHER=x\n")
	write(t, filepath.Join(root, "bad.env"), "API_KEY\n")
	list, err := DotenvFiles(context.Background(), []string{root})
	if err != nil || len(list) != 3 || !list[0].Ignored {
		t.Fatalf("list %v err %v", list, err)
	}
	known := []Secret{{Name: "API_KEY", Environment: "production", Value: value}}
	var plans []Plan
	for _, d := range list {
		p, err := FixFile(d.Path, known)
		if filepath.Base(d.Path) == "bad.env" {
			if err == nil || p.Deletable {
				t.Fatalf("bad.env: %v %v", p, err)
			}
			newLeakCheck(t, value).check("parse error", err)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		plans = append(plans, p)
	}
	if len(plans) != 2 || !plans[0].Deletable || plans[1].Deletable {
		t.Fatalf("plans %v", plans)
	}
	newLeakCheck(t, value).check("plans", plans)
}

// A value made of one repeated byte in a large file of that byte: every
// position matches; memory and findings stay bounded.
func TestPathologicalRepeats(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "a.txt"), strings.Repeat("a", 4<<20))
	res := tree(t, mustNew(t, []Secret{{Name: "A", Environment: "e", Value: "aaaaaaaa"}}, Options{}), root)
	if len(res.Findings) != 1 || res.Findings[0].Line != 1 {
		t.Fatalf("findings %d", len(res.Findings))
	}
}

// TestFixNeverLosesAValue: files whose every value secr cannot vouch for
// are kept (a review found both deletable), and a file edited after its
// plan was made is not deleted.
func TestFixNeverLosesAValue(t *testing.T) {
	dir := t.TempDir()
	known := []Secret{{Name: "DB_PASS", Environment: "development", Value: "new-password"}}
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	comments := write(".env.comments", "# STRIPE_KEY=sk_live_commented_out\n\n")
	if p, err := FixFile(comments, known); err != nil || p.Deletable {
		t.Fatalf("a comment-only file is deletable: %+v, %v", p, err)
	}
	dup := write(".env.dup", "DB_PASS=old-password\nDB_PASS=new-password\n")
	if p, err := FixFile(dup, known); err != nil || p.Deletable {
		t.Fatalf("a file whose earlier DB_PASS secr does not hold is deletable: %+v, %v", p, err)
	}
	same := write(".env.same", "DB_PASS=new-password\n")
	p, err := FixFile(same, known)
	if err != nil || !p.Deletable {
		t.Fatalf("a file secr holds entirely: %+v, %v", p, err)
	}
	// Edited while the user was being asked: kept.
	write(".env.same", "DB_PASS=new-password\nADDED_LATER=value-secr-does-not-have\n")
	if err := DeletePlanned(p); !errors.Is(err, ErrChanged) {
		t.Fatalf("a changed file was deleted: %v", err)
	}
	if data, _ := os.ReadFile(same); !strings.Contains(string(data), "ADDED_LATER") {
		t.Fatalf("the changed file was damaged: %q", data)
	}
	// Unchanged: deleted.
	write(".env.same", "DB_PASS=new-password\n")
	if p, err = FixFile(same, known); err != nil {
		t.Fatal(err)
	}
	if err := DeletePlanned(p); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(same); !os.IsNotExist(err) {
		t.Fatalf("not deleted: %v", err)
	}
	// A symbolic link put in its place after the plan is not followed.
	target := write("target", "DB_PASS=new-password\n")
	link := filepath.Join(dir, ".env.link")
	write(".env.link", "DB_PASS=new-password\n")
	if p, err = FixFile(link, known); err != nil || !p.Deletable {
		t.Fatal(err)
	}
	os.Remove(link)
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := DeletePlanned(p); err == nil {
		t.Fatal("deleted through a symbolic link")
	}
	if data, _ := os.ReadFile(target); string(data) != "DB_PASS=new-password\n" {
		t.Fatalf("the link's target was overwritten: %q", data)
	}
}
