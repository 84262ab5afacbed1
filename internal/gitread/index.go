package gitread

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// IndexEntry is one file in the index (the staging area).
type IndexEntry struct {
	// Path is slash-separated, relative to the top of the working tree.
	Path string
	Mode uint32
	Hash Hash
}

// Index reads this worktree's index (versions 2, 3 and 4). A repository
// with no index has no entries.
func (r *Repo) Index() ([]IndexEntry, error) {
	data, err := os.ReadFile(filepath.Join(r.GitDir, "index"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if len(data) < 12 || !bytes.Equal(data[:4], []byte("DIRC")) {
		return nil, errors.New("index: not a git index")
	}
	version := binary.BigEndian.Uint32(data[4:8])
	if version < 2 || version > 4 {
		return nil, fmt.Errorf("index: unsupported version %d", version)
	}
	count := int(binary.BigEndian.Uint32(data[8:12]))
	pos := 12
	var prev string
	// Each entry takes at least 62 bytes: a count larger than that allows
	// is a damaged (or hostile) index, not a reason to allocate.
	if count > len(data)/62 {
		return nil, errors.New("index: more entries than the file can hold")
	}
	entries := make([]IndexEntry, 0, count)
	for i := 0; i < count; i++ {
		start := pos
		if len(data) < pos+62 {
			return nil, errors.New("index: truncated")
		}
		mode := binary.BigEndian.Uint32(data[pos+24:])
		var h Hash
		copy(h[:], data[pos+40:pos+60])
		flags := binary.BigEndian.Uint16(data[pos+60:])
		pos += 62
		if flags&0x4000 != 0 && version >= 3 {
			pos += 2 // extended flags
		}
		var name string
		if version == 4 {
			// Prefix compression: strip N bytes from the previous name,
			// then a NUL-terminated suffix.
			strip, n := 0, 0
			for {
				if pos+n >= len(data) {
					return nil, errors.New("index: truncated name")
				}
				c := data[pos+n]
				n++
				strip = strip<<7 | int(c&0x7f)
				if c&0x80 == 0 {
					break
				}
				strip++
			}
			pos += n
			nul := bytes.IndexByte(data[pos:], 0)
			if nul < 0 || strip > len(prev) {
				return nil, errors.New("index: malformed name")
			}
			name = prev[:len(prev)-strip] + string(data[pos:pos+nul])
			pos += nul + 1
		} else {
			nul := bytes.IndexByte(data[pos:], 0)
			if nul < 0 {
				return nil, errors.New("index: malformed name")
			}
			name = string(data[pos : pos+nul])
			pos += nul + 1
			// Entries are padded with NULs to a multiple of 8 bytes.
			for (pos-start)%8 != 0 {
				pos++
			}
		}
		prev = name
		entries = append(entries, IndexEntry{Path: name, Mode: mode, Hash: h})
	}
	return entries, nil
}
