package gitread

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// pack is one packfile and its version-2 index.
type pack struct {
	path    string
	f       *os.File
	size    int64
	fanout  [256]uint32
	hashes  []byte // 20 bytes each, sorted
	offsets []byte // 4 bytes each; MSB set: index into large
	large   []byte // 8 bytes each

	mu    sync.Mutex
	cache map[int64]cached // resolved delta bases, bounded
}

type cached struct {
	typ  string
	data []byte
}

const maxCached = 512

func openPacks(dir string) ([]*pack, error) {
	idxs, err := filepath.Glob(filepath.Join(dir, "*.idx"))
	if err != nil {
		return nil, err
	}
	sort.Strings(idxs)
	var packs []*pack
	for _, idx := range idxs {
		p, err := openPack(idx)
		if err != nil {
			return nil, fmt.Errorf("pack %s: %w", filepath.Base(idx), err)
		}
		packs = append(packs, p)
	}
	return packs, nil
}

func openPack(idxPath string) (*pack, error) {
	idx, err := os.ReadFile(idxPath)
	if err != nil {
		return nil, err
	}
	if len(idx) < 8+256*4 || !bytes.Equal(idx[:4], []byte{0xff, 't', 'O', 'c'}) || binary.BigEndian.Uint32(idx[4:8]) != 2 {
		return nil, errors.New("not a version 2 pack index")
	}
	p := &pack{path: strings.TrimSuffix(idxPath, ".idx") + ".pack", cache: map[int64]cached{}}
	for i := range p.fanout {
		p.fanout[i] = binary.BigEndian.Uint32(idx[8+4*i:])
	}
	n := int(p.fanout[255])
	pos := 8 + 256*4
	if len(idx) < pos+n*(20+4+4) {
		return nil, errors.New("truncated pack index")
	}
	p.hashes = idx[pos : pos+20*n]
	pos += 20 * n
	pos += 4 * n // CRC-32s
	p.offsets = idx[pos : pos+4*n]
	pos += 4 * n
	p.large = idx[pos:]
	if p.f, err = os.Open(p.path); err != nil {
		return nil, err
	}
	fi, err := p.f.Stat()
	if err != nil {
		return nil, err
	}
	p.size = fi.Size()
	return p, nil
}

// find returns the pack offset of h.
func (p *pack) find(h Hash) (int64, bool) {
	lo := 0
	if h[0] > 0 {
		lo = int(p.fanout[h[0]-1])
	}
	hi := int(p.fanout[h[0]])
	i := lo + sort.Search(hi-lo, func(i int) bool {
		return bytes.Compare(p.hashes[20*(lo+i):20*(lo+i)+20], h[:]) >= 0
	})
	if i >= hi || !bytes.Equal(p.hashes[20*i:20*i+20], h[:]) {
		return 0, false
	}
	off := binary.BigEndian.Uint32(p.offsets[4*i:])
	if off&0x80000000 == 0 {
		return int64(off), true
	}
	j := int(off &^ 0x80000000)
	if len(p.large) < 8*j+8 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(p.large[8*j:])), true
}

var packTypes = map[byte]string{1: TypeCommit, 2: TypeTree, 3: TypeBlob, 4: TypeTag}

// read returns the object at off, resolving deltas against their bases
// (in this pack, or anywhere in r for a reference delta).
func (p *pack) read(r *Repo, off int64, depth int) (string, []byte, error) {
	if depth > 64 {
		return "", nil, errors.New("delta chain too deep")
	}
	p.mu.Lock()
	if c, ok := p.cache[off]; ok {
		p.mu.Unlock()
		return c.typ, c.data, nil
	}
	p.mu.Unlock()
	if off < 0 || off >= p.size {
		return "", nil, fmt.Errorf("offset %d outside the pack", off)
	}
	br := bufio.NewReader(io.NewSectionReader(p.f, off, p.size-off))
	c, err := br.ReadByte()
	if err != nil {
		return "", nil, err
	}
	kind := (c >> 4) & 7
	size := int64(c & 0x0f)
	for shift := 4; c&0x80 != 0; shift += 7 {
		if c, err = br.ReadByte(); err != nil {
			return "", nil, err
		}
		if shift > 56 {
			return "", nil, errors.New("object size overflows")
		}
		size |= int64(c&0x7f) << shift
	}
	var typ string
	var base []byte
	switch kind {
	case 6: // offset delta: base at off minus a big-endian base-128 number
		c, err = br.ReadByte()
		if err != nil {
			return "", nil, err
		}
		rel := int64(c & 0x7f)
		for c&0x80 != 0 {
			if c, err = br.ReadByte(); err != nil {
				return "", nil, err
			}
			rel = ((rel + 1) << 7) | int64(c&0x7f)
		}
		if typ, base, err = p.read(r, off-rel, depth+1); err != nil {
			return "", nil, err
		}
	case 7: // reference delta: base by name
		var bh Hash
		if _, err := io.ReadFull(br, bh[:]); err != nil {
			return "", nil, err
		}
		if typ, base, err = r.object(bh, depth+1); err != nil {
			return "", nil, err
		}
	default:
		var ok bool
		if typ, ok = packTypes[kind]; !ok {
			return "", nil, fmt.Errorf("unknown object kind %d", kind)
		}
	}
	if size > MaxObjectSize {
		return "", nil, fmt.Errorf("object larger than %d bytes", MaxObjectSize)
	}
	zr, err := zlib.NewReader(br)
	if err != nil {
		return "", nil, err
	}
	data := make([]byte, size)
	_, err = io.ReadFull(zr, data)
	zr.Close()
	if err != nil {
		return "", nil, err
	}
	if base != nil {
		if data, err = applyDelta(base, data); err != nil {
			return "", nil, err
		}
		p.mu.Lock()
		if len(p.cache) >= maxCached {
			clear(p.cache)
		}
		p.cache[off] = cached{typ, data}
		p.mu.Unlock()
	}
	return typ, data, nil
}

func deltaVarint(d []byte) (int, []byte, error) {
	n, shift := 0, 0
	for i, c := range d {
		n |= int(c&0x7f) << shift
		if c&0x80 == 0 {
			return n, d[i+1:], nil
		}
		shift += 7
		if shift > 35 {
			break
		}
	}
	return 0, nil, errors.New("malformed delta")
}

// applyDelta rebuilds an object from its base and a git delta.
func applyDelta(base, delta []byte) ([]byte, error) {
	srcSize, d, err := deltaVarint(delta)
	if err != nil || srcSize != len(base) {
		return nil, errors.New("delta does not match its base")
	}
	dstSize, d, err := deltaVarint(d)
	if err != nil || dstSize > MaxObjectSize {
		return nil, errors.New("malformed delta (or a result too large)")
	}
	out := make([]byte, 0, dstSize)
	for len(d) > 0 {
		op := d[0]
		d = d[1:]
		if op&0x80 != 0 {
			var off, n int
			for i := 0; i < 4; i++ {
				if op&(1<<i) != 0 {
					if len(d) == 0 {
						return nil, errors.New("truncated delta")
					}
					off |= int(d[0]) << (8 * i)
					d = d[1:]
				}
			}
			for i := 0; i < 3; i++ {
				if op&(0x10<<i) != 0 {
					if len(d) == 0 {
						return nil, errors.New("truncated delta")
					}
					n |= int(d[0]) << (8 * i)
					d = d[1:]
				}
			}
			if n == 0 {
				n = 0x10000
			}
			if off+n > len(base) || off+n < off {
				return nil, errors.New("delta copies outside its base")
			}
			out = append(out, base[off:off+n]...)
			continue
		}
		if op == 0 || int(op) > len(d) {
			return nil, errors.New("malformed delta")
		}
		out = append(out, d[:op]...)
		d = d[op:]
	}
	if len(out) != dstSize {
		return nil, errors.New("delta result has the wrong size")
	}
	return out, nil
}
