package scan

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/secr-dev/secr/internal/gitread"
)

// IsDotenvName reports whether a file name looks like a dotenv file:
// .env, .env.* or *.env.
func IsDotenvName(name string) bool {
	return name == ".env" || strings.HasPrefix(name, ".env.") || strings.HasSuffix(name, ".env")
}

// Tree searches the files under roots (directories or files). It honours
// .gitignore files (nested ones included, and those of the enclosing
// repository above a root) and .git/info/exclude unless
// Options.IncludeIgnored; it never enters .git directories and follows no
// symbolic link (a link's target inside the tree is scanned on its own).
// A root itself may be a link: it is what the user named. Res.Dotenv lists
// every dotenv-looking file, ignored or not. Files that cannot be read are
// listed in Res.Skipped; only a missing root or ctx ending is an error.
func (s *Scanner) Tree(ctx context.Context, roots []string) (*Result, error) {
	return s.tree(ctx, roots, false)
}

// DotenvFiles lists the dotenv-looking files under roots (.gitignore'd
// ones included, marked Ignored) without reading any file: the walk of
// Tree, for `secr scan --fix` alone.
func DotenvFiles(ctx context.Context, roots []string) ([]DotenvFile, error) {
	s, err := New(nil, Options{})
	if err != nil {
		return nil, err
	}
	res, err := s.tree(ctx, roots, true)
	if err != nil {
		return nil, err
	}
	return res.Dotenv, nil
}

func (s *Scanner) tree(ctx context.Context, roots []string, listOnly bool) (*Result, error) {
	t := &treeScan{s: s, ctx: ctx, jobs: make(chan fileJob, 256), res: &Result{}, listOnly: listOnly}
	var wg sync.WaitGroup
	for range s.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.worker()
		}()
	}
	var err error
	for _, root := range roots {
		if err = t.root(root); err != nil {
			break
		}
	}
	close(t.jobs)
	wg.Wait()
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	t.res.sort()
	return t.res, nil
}

func (r *Result) sort() {
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Line < b.Line
	})
	sort.Slice(r.Dotenv, func(i, j int) bool { return r.Dotenv[i].Path < r.Dotenv[j].Path })
	sort.Slice(r.Skipped, func(i, j int) bool { return r.Skipped[i].Path < r.Skipped[j].Path })
}

type fileJob struct {
	path string
	info os.FileInfo
}

type treeScan struct {
	s        *Scanner
	listOnly bool // DotenvFiles: read no file
	ctx      context.Context
	jobs     chan fileJob
	mu       sync.Mutex
	res      *Result
}

func (t *treeScan) skip(path, reason string) {
	t.mu.Lock()
	t.res.Skipped = append(t.res.Skipped, Skipped{path, reason})
	t.mu.Unlock()
}

func (t *treeScan) root(root string) error {
	info, err := os.Stat(root) // a root may be a link: the user named it
	if err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	if !info.IsDir() {
		if IsDotenvName(info.Name()) {
			t.addDotenv(DotenvFile{Path: root})
		}
		if info.Mode().IsRegular() {
			return t.send(fileJob{root, info})
		}
		t.skip(root, "not a regular file")
		return nil
	}
	rel, pats := enclosingIgnores(root)
	return t.walk(root, rel, pats, false)
}

func (t *treeScan) send(j fileJob) error {
	if t.listOnly {
		return nil
	}
	select {
	case t.jobs <- j:
		return nil
	case <-t.ctx.Done():
		return t.ctx.Err()
	}
}

// walk visits dir, whose path relative to the ignore base is rel; pats are
// the ignore patterns in force, ignored whether dir itself is ignored.
func (t *treeScan) walk(dir string, rel []string, pats []gitread.IgnorePattern, ignored bool) error {
	if err := t.ctx.Err(); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.skip(dir, "cannot list directory: "+errText(err))
		return nil
	}
	if !ignored {
		if more := readIgnoreFile(filepath.Join(dir, ".gitignore"), rel); len(more) > 0 {
			pats = append(pats[:len(pats):len(pats)], more...)
		}
	}
	for _, e := range entries {
		name := e.Name()
		if name == ".git" {
			continue
		}
		path := filepath.Join(dir, name)
		childRel := append(rel[:len(rel):len(rel)], name)
		isDir := e.IsDir()
		ign := ignored || matchIgnore(pats, childRel, isDir)
		switch {
		case e.Type()&os.ModeSymlink != 0:
			if IsDotenvName(name) {
				t.addDotenv(DotenvFile{Path: path, Ignored: ign, Symlink: true})
			}
			if !t.listOnly && (!ign || t.s.opts.IncludeIgnored) {
				t.skip(path, "symbolic link, not followed")
			}
		case isDir:
			if err := t.walk(path, childRel, pats, ign); err != nil {
				return err
			}
		case e.Type().IsRegular():
			if IsDotenvName(name) {
				t.addDotenv(DotenvFile{Path: path, Ignored: ign})
			}
			if ign && !t.s.opts.IncludeIgnored {
				continue
			}
			info, err := e.Info()
			if err != nil {
				t.skip(path, errText(err))
				continue
			}
			if err := t.send(fileJob{path, info}); err != nil {
				return err
			}
		default:
			// Devices, sockets and pipes: opening a FIFO would block.
		}
	}
	return nil
}

func (t *treeScan) addDotenv(d DotenvFile) {
	t.mu.Lock()
	t.res.Dotenv = append(t.res.Dotenv, d)
	t.mu.Unlock()
}

func (t *treeScan) worker() {
	var buf []byte
	for j := range t.jobs {
		if t.ctx.Err() != nil {
			continue // drain
		}
		fs, n, reason := t.s.scanFile(j.path, j.info, &buf)
		t.mu.Lock()
		if reason != "" {
			t.res.Skipped = append(t.res.Skipped, Skipped{j.path, reason})
		} else {
			t.res.Files++
			t.res.Bytes += n
		}
		for _, f := range fs {
			f.Path = j.path
			t.res.Findings = append(t.res.Findings, f)
		}
		t.mu.Unlock()
	}
}

const sniffLen = 8 << 10

// scanFile reads one regular file. A non-empty reason means it was skipped
// (or not read to the end).
func (s *Scanner) scanFile(path string, lst os.FileInfo, buf *[]byte) ([]Finding, int64, string) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, errText(err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, 0, errText(err)
	}
	if !os.SameFile(info, lst) {
		return nil, 0, "changed while scanning (replaced by a link?)"
	}
	var r io.Reader = f
	if info.Size() > s.opts.MaxBinarySize && !s.opts.ScanBinaries {
		head := make([]byte, sniffLen)
		n, _ := io.ReadFull(f, head)
		if bytes.IndexByte(head[:n], 0) >= 0 {
			return nil, 0, fmt.Sprintf("binary file of %d bytes (over %d)", info.Size(), s.opts.MaxBinarySize)
		}
		r = io.MultiReader(bytes.NewReader(head[:n]), f)
	}
	fs, n, err := s.scanReader(r, buf)
	if err != nil {
		return fs, n, "read error: " + errText(err)
	}
	return fs, n, ""
}

// errText is the error's message without the path (which the caller
// already shows): an *os.PathError's Err.
func errText(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func matchIgnore(pats []gitread.IgnorePattern, path []string, isDir bool) bool {
	for i := len(pats) - 1; i >= 0; i-- {
		switch pats[i].Match(path, isDir) {
		case gitread.Exclude:
			return true
		case gitread.Include:
			return false
		}
	}
	return false
}

// readIgnoreFile parses a .gitignore (or info/exclude) file whose patterns
// apply below domain.
func readIgnoreFile(path string, domain []string) []gitread.IgnorePattern {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var ps []gitread.IgnorePattern
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p, ok := gitread.ParseIgnore(sc.Text(), domain); ok {
			ps = append(ps, p)
		}
	}
	return ps
}

// enclosingIgnores finds the git work tree that holds root, if any, and
// returns root's path relative to its top directory, and the patterns
// of info/exclude and of the .gitignore files above root. Outside a
// repository paths are relative to root itself.
func enclosingIgnores(root string) ([]string, []gitread.IgnorePattern) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, nil
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	repo, err := gitread.Open(abs)
	if err != nil || repo.Top == "" {
		return nil, nil // not in a work tree
	}
	top := repo.Top
	var rel []string
	if r, err := filepath.Rel(top, abs); err == nil && r != "." {
		rel = strings.Split(filepath.ToSlash(r), "/")
	}
	pats := readIgnoreFile(filepath.Join(repo.CommonDir, "info", "exclude"), nil)
	// .gitignore files of top and of every directory between top and root
	// (root's own is read by walk).
	for i := range rel {
		dir := filepath.Join(append([]string{top}, rel[:i]...)...)
		pats = append(pats, readIgnoreFile(filepath.Join(dir, ".gitignore"), rel[:i])...)
	}
	return rel, pats
}
