package kdf

import "testing"

func TestCheckFromServer(t *testing.T) {
	for _, tc := range []struct {
		p  Params
		ok bool
	}{
		{Default(), true},
		{Ceiling(), true},
		{Params{Time: 2, MemoryKiB: 64 * 1024, Threads: 4}, false},
		{Params{Time: 3, MemoryKiB: 32 * 1024, Threads: 4}, false},
		{Params{Time: 3, MemoryKiB: 64 * 1024, Threads: 1}, false},
		{Params{Time: 11, MemoryKiB: 64 * 1024, Threads: 4}, false},
		{Params{Time: 3, MemoryKiB: 4 * 1024 * 1024, Threads: 4}, false},
		{Params{Time: 3, MemoryKiB: 64 * 1024, Threads: 255}, false},
	} {
		if err := tc.p.CheckFromServer(); (err == nil) != tc.ok {
			t.Errorf("%+v: err = %v, want ok=%v", tc.p, err, tc.ok)
		}
	}
}
