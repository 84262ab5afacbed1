package scan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"sort"

	"github.com/secr-dev/secr/internal/gitread"
)

func openRepo(repoPath string) (*gitread.Repo, error) {
	repo, err := gitread.Open(repoPath)
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
		seenTree: map[gitread.Hash]bool{}, seenBlob: map[gitread.Hash]bool{}, reported: map[Finding]bool{}}
	for _, c := range commits {
		if err := h.tree(c.Tree, "", c.Hash.String()); err != nil {
			return nil, err
		}
	}
	h.res.sort()
	return h.res, nil
}

type historyScan struct {
	s        *Scanner
	ctx      context.Context
	repo     *gitread.Repo
	res      *Result
	seenTree map[gitread.Hash]bool
	seenBlob map[gitread.Hash]bool
	// reported holds (path, secret, encoding) already reported: a later
	// version of a file that still holds the value did not introduce it.
	reported map[Finding]bool
	buf      []byte
}

func (h *historyScan) tree(hash gitread.Hash, dir, commit string) error {
	if h.seenTree[hash] {
		return nil
	}
	h.seenTree[hash] = true
	if err := h.ctx.Err(); err != nil {
		return err
	}
	entries, err := h.repo.Tree(hash)
	if err != nil {
		return fmt.Errorf("scan: tree %s of commit %s: %w", dirOrTop(dir), commit, err)
	}
	for _, e := range entries {
		p := path.Join(dir, e.Name)
		switch {
		case e.Mode == gitread.ModeDir:
			if err := h.tree(e.Hash, p, commit); err != nil {
				return err
			}
		case gitread.IsFile(e.Mode):
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

func dirOrTop(dir string) string {
	if dir == "" {
		return "/"
	}
	return dir
}

// scanBlob searches one blob; a non-empty reason means it was skipped.
func (s *Scanner) scanBlob(repo *gitread.Repo, hash gitread.Hash, buf *[]byte) ([]Finding, int64, string, error) {
	data, err := repo.Blob(hash)
	if err != nil {
		return nil, 0, "", err
	}
	if size := int64(len(data)); size > s.opts.MaxBinarySize && !s.opts.ScanBinaries &&
		bytes.IndexByte(data[:min(len(data), sniffLen)], 0) >= 0 {
		return nil, 0, fmt.Sprintf("binary file of %d bytes (over %d)", size, s.opts.MaxBinarySize), nil
	}
	fs, n, err := s.scanReader(bytes.NewReader(data), buf)
	clear(data) // it may hold secret values
	return fs, n, "", err
}

// allCommits returns every commit reachable from a ref or HEAD, parents
// before children (ties by commit time, then hash), so that the first
// commit whose tree holds a blob is one that introduced it.
func allCommits(ctx context.Context, repo *gitread.Repo) ([]*gitread.Commit, error) {
	tips, err := repo.RefTips()
	if err != nil {
		return nil, fmt.Errorf("scan: list refs: %w", err)
	}
	byHash := map[gitread.Hash]*gitread.Commit{}
	var all []*gitread.Commit
	queue := []gitread.Hash{}
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
		c, err := repo.Commit(hsh)
		if err != nil {
			if errors.Is(err, gitread.ErrNotFound) {
				continue // a shallow clone's missing parent
			}
			return nil, fmt.Errorf("scan: commit %s: %w", hsh, err)
		}
		byHash[hsh] = c
		all = append(all, c)
		queue = append(queue, c.Parents...)
	}
	sort.Slice(all, func(i, j int) bool {
		a, b := all[i].Time, all[j].Time
		if !a.Equal(b) {
			return a.Before(b)
		}
		return all[i].Hash.String() < all[j].Hash.String()
	})
	// Depth-first, parents first, iteratively (histories can be deep).
	done := map[gitread.Hash]bool{}
	var order []*gitread.Commit
	type frame struct {
		c    *gitread.Commit
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
			if top.next < len(top.c.Parents) {
				p := top.c.Parents[top.next]
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

// peelToCommit follows tag objects to the commit they name.
func peelToCommit(repo *gitread.Repo, h gitread.Hash) (gitread.Hash, error) {
	for range 10 {
		target, isTag, err := repo.TagTarget(h)
		if err != nil {
			return gitread.Hash{}, err
		}
		if isTag {
			h = target
			continue
		}
		if _, err := repo.Commit(h); err != nil {
			return gitread.Hash{}, err
		}
		return h, nil
	}
	return gitread.Hash{}, errors.New("tag chain too long")
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
	idx, err := repo.Index()
	if err != nil {
		return nil, fmt.Errorf("scan: read the index: %w", err)
	}
	var headTree gitread.Hash
	haveHead := false
	if head, ok, err := repo.Head(); err == nil && ok {
		if c, err := repo.Commit(head); err == nil {
			headTree, haveHead = c.Tree, true
		}
	}
	res := &Result{}
	var buf []byte
	for _, e := range idx {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !gitread.IsFile(e.Mode) {
			continue
		}
		if haveHead {
			if he, found, err := repo.FindInTree(headTree, e.Path); err == nil && found && he.Hash == e.Hash {
				continue // unchanged since HEAD
			}
		}
		if IsDotenvName(path.Base(e.Path)) {
			res.Dotenv = append(res.Dotenv, DotenvFile{Path: e.Path})
		}
		fs, n, reason, err := s.scanBlob(repo, e.Hash, &buf)
		if err != nil {
			return nil, fmt.Errorf("scan: staged %s: %w", e.Path, err)
		}
		res.add(e.Path, "", fs, n, reason)
	}
	res.sort()
	return res, nil
}
