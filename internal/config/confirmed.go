package config

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Confirmed records the members whose keys this user checked out of band
// ('secr members verify --confirm'): per server, org and member, the
// fingerprint of the identity that was confirmed. A later key change for a
// confirmed member is an integrity failure, not a silent update.
type Confirmed struct {
	Path string
	mu   sync.Mutex
}

// ConfirmedAt returns the confirmed-keys store in dirs.
func ConfirmedAt(d Dirs) *Confirmed {
	return &Confirmed{Path: filepath.Join(d.State, "confirmed.json")}
}

func confirmedKey(server, orgID, memberID string) string {
	return server + "|" + orgID + "|" + memberID
}

func (c *Confirmed) read() (map[string]string, error) {
	m := map[string]string{}
	data, err := os.ReadFile(c.Path)
	if os.IsNotExist(err) {
		return m, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s is corrupt: %v", c.Path, err)
	}
	return m, nil
}

// Org returns the confirmed fingerprints of org's members on server, by
// member ID.
func (c *Confirmed) Org(server, orgID string) (map[string][32]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.read()
	if err != nil {
		return nil, err
	}
	out := map[string][32]byte{}
	prefix := server + "|" + orgID + "|"
	for k, v := range m {
		if len(k) > len(prefix) && k[:len(prefix)] == prefix {
			var fp [32]byte
			if b, err := hex.DecodeString(v); err == nil && len(b) == 32 {
				copy(fp[:], b)
				out[k[len(prefix):]] = fp
			}
		}
	}
	return out, nil
}

// Confirm records fingerprint as checked for memberID of org on server.
func (c *Confirmed) Confirm(server, orgID, memberID string, fingerprint [32]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(c.Path), 0o700); err != nil {
		return err
	}
	unlock, err := lockFile(c.Path + ".lock")
	if err != nil {
		return fmt.Errorf("lock %s: %w", c.Path, err)
	}
	defer unlock()
	m, err := c.read()
	if err != nil {
		return err
	}
	m[confirmedKey(server, orgID, memberID)] = hex.EncodeToString(fingerprint[:])
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return WritePrivate(c.Path, data)
}
