// Package gitread reads a git repository's objects, refs and index from
// disk, in pure Go and with the standard library only: what `secr scan`
// needs to search history and staged files, without a git binary and
// without linking a full git implementation (and its transports, signing
// and network code) into every secr command.
//
// It reads SHA-1 repositories: loose objects, packfiles (index version 2)
// with offset and reference deltas, loose and packed refs, linked worktrees
// (a .git file and commondir) and index versions 2 to 4. It never writes.
package gitread

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Hash is a SHA-1 object name.
type Hash [20]byte

// String is the hash in hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash parses 40 hex digits.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("malformed object name %q", s)
	}
	copy(h[:], b)
	return h, nil
}

// MaxObjectSize bounds an object this package will inflate into memory:
// a repository being scanned may be hostile (a zlib bomb, a size field of
// gigabytes).
const MaxObjectSize = 512 << 20

// ErrNotFound means the repository has no object of that name (for
// example a shallow clone's missing parent).
var ErrNotFound = errors.New("object not found")

// Object types.
const (
	TypeCommit = "commit"
	TypeTree   = "tree"
	TypeBlob   = "blob"
	TypeTag    = "tag"
)

// Repo is an open repository.
type Repo struct {
	// Top is the working tree's top directory ("" for a bare repository).
	Top string
	// GitDir holds this worktree's HEAD and index; CommonDir the objects,
	// refs and config (the same directory except in a linked worktree).
	GitDir, CommonDir string

	once  sync.Once
	packs []*pack
	err   error
}

// Open finds the repository containing path (a directory in its working
// tree, or its .git directory).
func Open(path string) (*Repo, error) {
	dir, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	for {
		dotgit := filepath.Join(dir, ".git")
		if fi, err := os.Stat(dotgit); err == nil {
			r := &Repo{Top: dir, GitDir: dotgit}
			if !fi.IsDir() {
				// A linked worktree or submodule: "gitdir: PATH".
				data, err := os.ReadFile(dotgit)
				if err != nil {
					return nil, err
				}
				target, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "gitdir:")
				if !ok {
					return nil, fmt.Errorf("%s is not a git directory reference", dotgit)
				}
				target = strings.TrimSpace(target)
				if !filepath.IsAbs(target) {
					target = filepath.Join(dir, target)
				}
				r.GitDir = target
			}
			r.CommonDir = r.GitDir
			if data, err := os.ReadFile(filepath.Join(r.GitDir, "commondir")); err == nil {
				c := strings.TrimSpace(string(data))
				if !filepath.IsAbs(c) {
					c = filepath.Join(r.GitDir, c)
				}
				r.CommonDir = filepath.Clean(c)
			}
			return r, nil
		}
		if isGitDir(dir) {
			return &Repo{GitDir: dir, CommonDir: dir}, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil, fmt.Errorf("%s is not inside a git repository", path)
		}
		dir = parent
	}
}

func isGitDir(dir string) bool {
	for _, name := range []string{"HEAD", "objects", "refs"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			return false
		}
	}
	return true
}

// Head returns the commit HEAD names; ok is false on an unborn branch.
func (r *Repo) Head() (Hash, bool, error) {
	return r.resolve("HEAD", 0)
}

// resolve follows a ref (HEAD, refs/heads/main, ...) to a hash.
func (r *Repo) resolve(name string, depth int) (Hash, bool, error) {
	if depth > 8 {
		return Hash{}, false, fmt.Errorf("ref %s: too many symbolic links", name)
	}
	dir := r.CommonDir
	if name == "HEAD" || !strings.HasPrefix(name, "refs/") || strings.HasPrefix(name, "refs/worktree/") || strings.HasPrefix(name, "refs/bisect/") {
		dir = r.GitDir
	}
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
	if errors.Is(err, fs.ErrNotExist) {
		packed, err := r.packedRefs()
		if err != nil {
			return Hash{}, false, err
		}
		h, ok := packed[name]
		return h, ok, nil
	}
	if err != nil {
		return Hash{}, false, err
	}
	s := strings.TrimSpace(string(data))
	if target, ok := strings.CutPrefix(s, "ref:"); ok {
		return r.resolve(strings.TrimSpace(target), depth+1)
	}
	h, err := ParseHash(s)
	return h, err == nil, err
}

func (r *Repo) packedRefs() (map[string]Hash, error) {
	refs := map[string]Hash{}
	f, err := os.Open(filepath.Join(r.CommonDir, "packed-refs"))
	if errors.Is(err, fs.ErrNotExist) {
		return refs, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || line[0] == '^' {
			continue // comments, and peeled tag targets (the tag is enough)
		}
		hash, name, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if h, err := ParseHash(hash); err == nil {
			refs[name] = h
		}
	}
	return refs, sc.Err()
}

// RefTips returns the hash of every ref (branches, tags, remote-tracking
// branches, the stash, notes) and of HEAD, each once.
func (r *Repo) RefTips() ([]Hash, error) {
	seen := map[Hash]bool{}
	var tips []Hash
	add := func(h Hash) {
		if !seen[h] {
			seen[h] = true
			tips = append(tips, h)
		}
	}
	packed, err := r.packedRefs()
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(packed))
	for n := range packed {
		names = append(names, n)
	}
	root := filepath.Join(r.CommonDir, "refs")
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(r.CommonDir, p)
		names = append(names, filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	for _, n := range names {
		if h, ok, err := r.resolve(n, 0); err == nil && ok {
			add(h)
		}
	}
	if h, ok, err := r.Head(); err == nil && ok {
		add(h)
	}
	return tips, nil
}

// Object returns an object's type and content.
func (r *Repo) Object(h Hash) (string, []byte, error) { return r.object(h, 0) }

// object is Object inside a delta chain of depth depth (reference deltas
// count too, so a hostile pack cannot make a cycle of them).
func (r *Repo) object(h Hash, depth int) (string, []byte, error) {
	typ, data, err := r.loose(h)
	if !errors.Is(err, fs.ErrNotExist) {
		return typ, data, err
	}
	r.once.Do(func() { r.packs, r.err = openPacks(filepath.Join(r.CommonDir, "objects", "pack")) })
	if r.err != nil {
		return "", nil, r.err
	}
	for _, p := range r.packs {
		if off, ok := p.find(h); ok {
			return p.read(r, off, depth)
		}
	}
	return "", nil, fmt.Errorf("%s: %w", h, ErrNotFound)
}

// typed returns the content of h, which must be of type want.
func (r *Repo) typed(h Hash, want string) ([]byte, error) {
	typ, data, err := r.Object(h)
	if err != nil {
		return nil, err
	}
	if typ != want {
		return nil, fmt.Errorf("object %s is a %s, not a %s", h, typ, want)
	}
	return data, nil
}

func (r *Repo) loose(h Hash) (string, []byte, error) {
	s := h.String()
	f, err := os.Open(filepath.Join(r.CommonDir, "objects", s[:2], s[2:]))
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	zr, err := zlib.NewReader(f)
	if err != nil {
		return "", nil, fmt.Errorf("object %s: %w", h, err)
	}
	defer zr.Close()
	data, err := io.ReadAll(io.LimitReader(zr, MaxObjectSize+64))
	if err != nil {
		return "", nil, fmt.Errorf("object %s: %w", h, err)
	}
	if len(data) > MaxObjectSize {
		return "", nil, fmt.Errorf("object %s: larger than %d bytes", h, MaxObjectSize)
	}
	hdr, body, ok := bytes.Cut(data, []byte{0})
	typ, size, ok2 := strings.Cut(string(hdr), " ")
	n, err := strconv.Atoi(size)
	if !ok || !ok2 || err != nil || n != len(body) {
		return "", nil, fmt.Errorf("object %s: malformed header", h)
	}
	return typ, body, nil
}

// Commit is the part of a commit secr scan needs.
type Commit struct {
	Hash    Hash
	Tree    Hash
	Parents []Hash
	// Time is the committer's time.
	Time time.Time
}

// Commit reads the commit h.
func (r *Repo) Commit(h Hash) (*Commit, error) {
	data, err := r.typed(h, TypeCommit)
	if err != nil {
		return nil, err
	}
	c := &Commit{Hash: h}
	for len(data) > 0 {
		line, rest, _ := bytes.Cut(data, []byte{'\n'})
		data = rest
		if len(line) == 0 {
			break // the message follows
		}
		key, val, _ := strings.Cut(string(line), " ")
		switch key {
		case "tree":
			c.Tree, err = ParseHash(val)
		case "parent":
			var p Hash
			p, err = ParseHash(val)
			c.Parents = append(c.Parents, p)
		case "committer":
			// "Name <email> 1700000000 +0100"
			fields := strings.Fields(val)
			if len(fields) >= 2 {
				if sec, perr := strconv.ParseInt(fields[len(fields)-2], 10, 64); perr == nil {
					c.Time = time.Unix(sec, 0)
				}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("commit %s: %w", h, err)
		}
	}
	return c, nil
}

// TagTarget returns the object a tag object points to; ok is false when h
// is not a tag.
func (r *Repo) TagTarget(h Hash) (Hash, bool, error) {
	typ, data, err := r.Object(h)
	if err != nil || typ != TypeTag {
		return Hash{}, false, err
	}
	line, _, _ := bytes.Cut(data, []byte{'\n'})
	val, ok := strings.CutPrefix(string(line), "object ")
	if !ok {
		return Hash{}, false, fmt.Errorf("tag %s: malformed", h)
	}
	t, err := ParseHash(val)
	return t, err == nil, err
}

// Modes of tree and index entries.
const (
	ModeDir        = 0o040000
	ModeRegular    = 0o100644
	ModeExecutable = 0o100755
	ModeDeprecated = 0o100664
	ModeSymlink    = 0o120000
	ModeSubmodule  = 0o160000
)

// IsFile reports whether mode is a regular (possibly executable) file.
func IsFile(mode uint32) bool {
	return mode == ModeRegular || mode == ModeExecutable || mode == ModeDeprecated
}

// TreeEntry is one entry of a tree.
type TreeEntry struct {
	Name string
	Mode uint32
	Hash Hash
}

// Tree reads the tree h.
func (r *Repo) Tree(h Hash) ([]TreeEntry, error) {
	data, err := r.typed(h, TypeTree)
	if err != nil {
		return nil, err
	}
	return parseTree(h, data)
}

func parseTree(h Hash, data []byte) ([]TreeEntry, error) {
	var entries []TreeEntry
	for len(data) > 0 {
		sp := bytes.IndexByte(data, ' ')
		nul := bytes.IndexByte(data, 0)
		if sp < 0 || nul < sp || len(data) < nul+21 {
			return nil, fmt.Errorf("tree %s: malformed", h)
		}
		mode, err := strconv.ParseUint(string(data[:sp]), 8, 32)
		if err != nil {
			return nil, fmt.Errorf("tree %s: malformed mode", h)
		}
		var eh Hash
		copy(eh[:], data[nul+1:nul+21])
		entries = append(entries, TreeEntry{Name: string(data[sp+1 : nul]), Mode: uint32(mode), Hash: eh})
		data = data[nul+21:]
	}
	return entries, nil
}

// Blob reads the blob h.
func (r *Repo) Blob(h Hash) ([]byte, error) { return r.typed(h, TypeBlob) }

// FindInTree returns the entry at the slash-separated path under tree.
func (r *Repo) FindInTree(tree Hash, path string) (TreeEntry, bool, error) {
	parts := strings.Split(path, "/")
	for i, part := range parts {
		entries, err := r.Tree(tree)
		if err != nil {
			return TreeEntry{}, false, err
		}
		var found *TreeEntry
		for j := range entries {
			if entries[j].Name == part {
				found = &entries[j]
				break
			}
		}
		if found == nil {
			return TreeEntry{}, false, nil
		}
		if i == len(parts)-1 {
			return *found, true, nil
		}
		if found.Mode != ModeDir {
			return TreeEntry{}, false, nil
		}
		tree = found.Hash
	}
	return TreeEntry{}, false, nil
}

// HooksPath returns core.hooksPath from the repository's config, or "".
func (r *Repo) HooksPath() string {
	data, err := os.ReadFile(filepath.Join(r.CommonDir, "config"))
	if err != nil {
		return ""
	}
	section := ""
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			section = strings.ToLower(strings.Trim(line, "[] \t"))
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if ok && section == "core" && strings.EqualFold(strings.TrimSpace(key), "hookspath") {
			return strings.Trim(strings.TrimSpace(val), `"`)
		}
	}
	return ""
}
