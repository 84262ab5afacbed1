package main

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestGCDefaults(t *testing.T) {
	// Restore this test process's settings afterwards.
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	cases := []struct {
		env         map[string]string
		percent     int
		memoryLimit int64
	}{
		{map[string]string{}, gcPercent, memoryLimit},
		// The operator's GOMEMLIMIT (already applied by the runtime) stays.
		{map[string]string{"GOMEMLIMIT": "1GiB"}, gcPercent, math.MaxInt64},
		// The operator's GOGC: nothing is changed.
		{map[string]string{"GOGC": "100"}, 100, math.MaxInt64},
	}
	for _, c := range cases {
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(math.MaxInt64)
		gcDefaults(func(k string) string { return c.env[k] })
		if got := debug.SetGCPercent(100); got != c.percent {
			t.Errorf("%v: GC percent %d, want %d", c.env, got, c.percent)
		}
		if got := debug.SetMemoryLimit(-1); got != c.memoryLimit {
			t.Errorf("%v: memory limit %d, want %d", c.env, got, c.memoryLimit)
		}
	}
}
