package scan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

func openRepo(repoPath string) (*git.Repository, error) {
	repo, err := git.PlainOpenWithOptions(repoPath, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	if err != nil {
		return nil, fmt.Errorf("scan: open git repository %s: %w", repoPath, err)
	}
	return repo, nil
}

// GitHistory searches every blob reachable from any ref (branches, tags,
// remote-tracking branches, the stash, HEAD) once, in pure Go (no git
// binary). Commits are visited parents first, so a finding's Commit is the
// commit that introduced the value at that path: a value is reported once
// per path, secret and encoding, at the first commit whose tree holds it
// there (later versions of the file that keep it are not reported again;
// the same blob at a second path is not searched twice). Paths are
// slash-separated and relative to the repository's top. Res.Dotenv lists
// every dotenv-looking path ever committed, with the commit that added it.
// .gitignore plays no part: what was committed is what leaked.
func (s *Scanner) GitHistory(ctx context.Context, repoPath string) (*Result, error) {
	repo, err := openRepo(repoPath)
	if err != nil {
		return nil, err
	}
	commits, err := allCommits(ctx, repo)
	if err != nil {
		return nil, err
	}
	h := &historyScan{s: s, ctx: ctx, repo: repo, res: &Result{},
		seenTree: map[plumbing.Hash]bool{}, seenBlob: map[plumbing.Hash]bool{}, reported: map[Finding]bool{}}
	for _, c := range commits {
		tree, err := repo.TreeObject(c.TreeHash)
		if err != nil {
			return nil, fmt.Errorf("scan: commit %s: %w", c.Hash, err)
		}
		if err := h.tree(tree, "", c.Hash.String()); err != nil {
			return nil, err
		}
	}
	h.res.sort()
	return h.res, nil
}

type historyScan struct {
	s        *Scanner
	ctx      context.Context
	repo     *git.Repository
	res      *Result
	seenTree map[plumbing.Hash]bool
	seenBlob map[plumbing.Hash]bool
	// reported holds (path, secret, encoding) already reported: a later
	// version of a file that still holds the value did not introduce it.
	reported map[Finding]bool
	buf      []byte
}

func (h *historyScan) tree(t *object.Tree, dir, commit string) error {
	if h.seenTree[t.Hash] {
		return nil
	}
	h.seenTree[t.Hash] = true
	if err := h.ctx.Err(); err != nil {
		return err
	}
	for _, e := range t.Entries {
		p := path.Join(dir, e.Name)
		switch e.Mode {
		case filemode.Dir:
			sub, err := h.repo.TreeObject(e.Hash)
			if err != nil {
				return fmt.Errorf("scan: tree %s: %w", p, err)
			}
			if err := h.tree(sub, p, commit); err != nil {
				return err
			}
		case filemode.Regular, filemode.Executable, filemode.Deprecated:
			if h.seenBlob[e.Hash] {
				continue
			}
			h.seenBlob[e.Hash] = true
			if IsDotenvName(e.Name) {
				h.res.Dotenv = append(h.res.Dotenv, DotenvFile{Path: p, Commit: commit})
			}
			fs, n, reason, err := h.s.scanBlob(h.repo, e.Hash, &h.buf)
			if err != nil {
				return fmt.Errorf("scan: blob %s at %s: %w", e.Hash, p, err)
			}
			kept := fs[:0]
			for _, f := range fs {
				key := Finding{Path: p, Name: f.Name, Environment: f.Environment, Encoding: f.Encoding, ValueLine: f.ValueLine}
				if !h.reported[key] {
					h.reported[key] = true
					kept = append(kept, f)
				}
			}
			h.res.add(p, commit, kept, n, reason)
		}
		// Symlinks (their blob is a path) and submodules are not searched.
	}
	return nil
}

func (r *Result) add(path, commit string, fs []Finding, n int64, reason string) {
	if reason != "" {
		r.Skipped = append(r.Skipped, Skipped{Path: path, Reason: reason})
		return
	}
	r.Files++
	r.Bytes += n
	for _, f := range fs {
		f.Path, f.Commit = path, commit
		r.Findings = append(r.Findings, f)
	}
}

// scanBlob searches one blob; a non-empty reason means it was skipped.
func (s *Scanner) scanBlob(repo *git.Repository, hash plumbing.Hash, buf *[]byte) ([]Finding, int64, string, error) {
	blob, err := repo.BlobObject(hash)
	if err != nil {
		return nil, 0, "", err
	}
	rc, err := blob.Reader()
	if err != nil {
		return nil, 0, "", err
	}
	defer rc.Close()
	var r io.Reader = rc
	if blob.Size > s.opts.MaxBinarySize && !s.opts.ScanBinaries {
		head := make([]byte, sniffLen)
		n, _ := io.ReadFull(rc, head)
		if bytes.IndexByte(head[:n], 0) >= 0 {
			return nil, 0, fmt.Sprintf("binary file of %d bytes (over %d)", blob.Size, s.opts.MaxBinarySize), nil
		}
		r = io.MultiReader(bytes.NewReader(head[:n]), rc)
	}
	fs, n, err := s.scanReader(r, buf)
	return fs, n, "", err
}

// allCommits returns every commit reachable from a ref or HEAD, parents
// before children (ties by commit time, then hash), so that the first
// commit whose tree holds a blob is one that introduced it.
func allCommits(ctx context.Context, repo *git.Repository) ([]*object.Commit, error) {
	var tips []plumbing.Hash
	refs, err := repo.References()
	if err != nil {
		return nil, fmt.Errorf("scan: list refs: %w", err)
	}
	_ = refs.ForEach(func(r *plumbing.Reference) error {
		if r.Type() == plumbing.HashReference {
			tips = append(tips, r.Hash())
		}
		return nil
	})
	if head, err := repo.Head(); err == nil {
		tips = append(tips, head.Hash())
	}
	byHash := map[plumbing.Hash]*object.Commit{}
	var all []*object.Commit
	queue := []plumbing.Hash{}
	for _, tip := range tips {
		c, err := peelToCommit(repo, tip)
		if err != nil {
			continue // a ref to a tree or blob: nothing to walk
		}
		queue = append(queue, c)
	}
	for len(queue) > 0 {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hsh := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		if _, ok := byHash[hsh]; ok {
			continue
		}
		c, err := repo.CommitObject(hsh)
		if err != nil {
			if errors.Is(err, plumbing.ErrObjectNotFound) {
				continue // a shallow clone's missing parent
			}
			return nil, fmt.Errorf("scan: commit %s: %w", hsh, err)
		}
		byHash[hsh] = c
		all = append(all, c)
		queue = append(queue, c.ParentHashes...)
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i].Committer.When, all[j].Committer.When
		if !a.Equal(b) {
			return a.Before(b)
		}
		return all[i].Hash.String() < all[j].Hash.String()
	})
	// Depth-first, parents first, iteratively (histories can be deep).
	done := map[plumbing.Hash]bool{}
	var order []*object.Commit
	type frame struct {
		c    *object.Commit
		next int
	}
	for _, root := range all {
		if done[root.Hash] {
			continue
		}
		stack := []frame{{c: root}}
		done[root.Hash] = true
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			if top.next < len(top.c.ParentHashes) {
				p := top.c.ParentHashes[top.next]
				top.next++
				if pc, ok := byHash[p]; ok && !done[p] {
					done[p] = true
					stack = append(stack, frame{c: pc})
				}
				continue
			}
			order = append(order, top.c)
			stack = stack[:len(stack)-1]
		}
	}
	return order, nil
}

func peelToCommit(repo *git.Repository, h plumbing.Hash) (plumbing.Hash, error) {
	for range 10 {
		if tag, err := repo.TagObject(h); err == nil {
			h = tag.Target
			continue
		}
		if _, err := repo.CommitObject(h); err != nil {
			return plumbing.ZeroHash, err
		}
		return h, nil
	}
	return plumbing.ZeroHash, errors.New("tag chain too long")
}

// Staged searches the blobs in the index that differ from HEAD's tree:
// what the next commit would add, for a pre-commit hook. Res.Dotenv lists
// the dotenv-looking files among them. Paths are slash-separated, relative
// to the repository's top.
func (s *Scanner) Staged(ctx context.Context, repoPath string) (*Result, error) {
	repo, err := openRepo(repoPath)
	if err != nil {
		return nil, err
	}
	idx, err := repo.Storer.Index()
	if err != nil {
		return nil, fmt.Errorf("scan: read the index: %w", err)
	}
	var headTree *object.Tree
	if head, err := repo.Head(); err == nil {
		if c, err := repo.CommitObject(head.Hash()); err == nil {
			headTree, _ = c.Tree()
		}
	}
	res := &Result{}
	var buf []byte
	for _, e := range idx.Entries {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if e.Mode != filemode.Regular && e.Mode != filemode.Executable && e.Mode != filemode.Deprecated {
			continue
		}
		if headTree != nil {
			if he, err := headTree.FindEntry(e.Name); err == nil && he.Hash == e.Hash {
				continue // unchanged since HEAD
			}
		}
		if IsDotenvName(path.Base(e.Name)) {
			res.Dotenv = append(res.Dotenv, DotenvFile{Path: e.Name})
		}
		fs, n, reason, err := s.scanBlob(repo, e.Hash, &buf)
		if err != nil {
			return nil, fmt.Errorf("scan: staged %s: %w", e.Name, err)
		}
		res.add(e.Name, "", fs, n, reason)
	}
	res.sort()
	return res, nil
}
