package config

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

// TestSeenConcurrentRecords: marks recorded at once through separate Seen
// values on one file (as separate secr processes do) are all kept, and
// none goes down.
func TestSeenConcurrentRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "seen.json")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := &Seen{Path: path} // a separate process's view
			for rev := int64(1); rev <= 20; rev++ {
				if err := s.Record("http://x", fmt.Sprintf("env_%d", i), Mark{Rev: rev}); err != nil {
					t.Error(err)
				}
				if err := s.Record("http://x", "env_shared", Mark{Rev: rev}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	m := (&Seen{Path: path}).Load()
	for i := range 8 {
		if got := m.Get("http://x", fmt.Sprintf("env_%d", i)).Rev; got != 20 {
			t.Errorf("env_%d: mark %d, want 20", i, got)
		}
	}
	if got := m.Get("http://x", "env_shared").Rev; got != 20 {
		t.Errorf("shared: mark %d, want 20", got)
	}
}
