package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
)

// RevokedInvites records the invites this user revoked, per server, so
// that this machine never completes one even if the server keeps it (the
// server's deletion is only the server's word).
type RevokedInvites struct {
	Path string
	mu   sync.Mutex
}

// RevokedInvitesAt returns the revoked-invites store in dirs.
func RevokedInvitesAt(d Dirs) *RevokedInvites {
	return &RevokedInvites{Path: filepath.Join(d.State, "revoked-invites.json")}
}

func (r *RevokedInvites) read() ([]string, error) {
	var ids []string
	data, err := os.ReadFile(r.Path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &ids); err != nil {
		return nil, fmt.Errorf("%s is corrupt: %v", r.Path, err)
	}
	return ids, nil
}

// Has reports whether invite id on server was revoked here. An unreadable
// file counts as revoked: refusing an invite is the safe side.
func (r *RevokedInvites) Has(server, id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids, err := r.read()
	return err != nil || slices.Contains(ids, server+"|"+id)
}

// Add records invite id on server as revoked.
func (r *RevokedInvites) Add(server, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(r.Path), 0o700); err != nil {
		return err
	}
	unlock, err := lockFile(r.Path + ".lock")
	if err != nil {
		return fmt.Errorf("lock %s: %w", r.Path, err)
	}
	defer unlock()
	ids, err := r.read()
	if err != nil {
		return err
	}
	data, err := json.Marshal(append(ids, server+"|"+id))
	if err != nil {
		return err
	}
	return WritePrivate(r.Path, data)
}
