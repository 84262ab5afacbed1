package trust

import (
	"testing"
)

// Benchmarks report cpu-ms/op beside ns/op: the machine that runs them is
// shared, so wall time overstates the cost, and Verify checks signatures
// on every core, so wall time can also understate it.

// BenchmarkVerify1000 is a stateless CI runner's cost: a 1,000-entry chain
// from its root.
func BenchmarkVerify1000(b *testing.B) {
	entries, _ := buildChain(b, 1000)
	b.ResetTimer()
	cpu := cpuTime()
	for b.Loop() {
		if _, err := Verify(entries, nil); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

// BenchmarkExtend1 is a client with a cached State: load it, verify one
// new entry, and encode it to cache again.
func BenchmarkExtend1(b *testing.B) {
	entries, _ := buildChain(b, 1001)
	st, err := Verify(entries[:1000], nil)
	if err != nil {
		b.Fatal(err)
	}
	cached := st.Bytes()
	next := entries[1000]
	b.ResetTimer()
	cpu := cpuTime()
	for b.Loop() {
		st, err := ParseState(cached)
		if err != nil {
			b.Fatal(err)
		}
		st, err = st.Extend([]*Entry{entries[999], next})
		if err != nil {
			b.Fatal(err)
		}
		_ = st.Bytes()
	}
	reportCPU(b, cpu)
	b.ReportMetric(float64(len(cached)), "cache-bytes")
}

// BenchmarkExtend1InMemory is Extend alone, on a State already in memory.
func BenchmarkExtend1InMemory(b *testing.B) {
	entries, _ := buildChain(b, 1001)
	st, err := Verify(entries[:1000], nil)
	if err != nil {
		b.Fatal(err)
	}
	batch := []*Entry{entries[1000]}
	b.ResetTimer()
	cpu := cpuTime()
	for b.Loop() {
		if _, err := st.Extend(batch); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

func reportCPU(b *testing.B, start float64) {
	if start >= 0 {
		b.ReportMetric((cpuTime()-start)*1e3/float64(b.N), "cpu-ms/op")
	}
}

// BenchmarkEd25519Floor is 1,000 bare Ed25519 verifications, one core: the
// least that verifying a 1,000-entry chain can cost, to compare
// BenchmarkVerify1000 with.
func BenchmarkEd25519Floor(b *testing.B) {
	entries, _ := buildChain(b, 1000)
	st, err := Verify(entries, nil)
	if err != nil {
		b.Fatal(err)
	}
	alice, _ := st.Principal("usr_alice")
	msgs := make([][]byte, len(entries))
	for i, e := range entries {
		msgs[i] = e.signedMessage(st.OrgID())
	}
	b.ResetTimer()
	cpu := cpuTime()
	for b.Loop() {
		for i, e := range entries {
			if e.signer == "usr_alice" && !alice.verify(msgs[i], e.sig) {
				b.Fatal("bad signature")
			}
		}
	}
	reportCPU(b, cpu)
}

// BenchmarkRunPinned1000 is what 'secr run' does with a 1,000-entry chain
// pinned and nothing new: load the cached State and check the head the
// server sends.
func BenchmarkRunPinned1000(b *testing.B) {
	entries, _ := buildChain(b, 1000)
	st, err := Verify(entries, nil)
	if err != nil {
		b.Fatal(err)
	}
	cached := st.Bytes()
	head := []*Entry{entries[len(entries)-1]}
	b.ResetTimer()
	cpu := cpuTime()
	for b.Loop() {
		st, err := ParseState(cached)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.Extend(head); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
	b.ReportMetric(float64(len(cached)), "cache-bytes")
}

// BenchmarkParseState1000 is what every command in an org with a
// 1,000-entry chain (1,000 environments) pays first: parse the pinned state.
func BenchmarkParseState1000(b *testing.B) {
	entries, _ := buildChain(b, 1000)
	st, err := Verify(entries, nil)
	if err != nil {
		b.Fatal(err)
	}
	cached := st.Bytes()
	for b.Loop() {
		if _, err := ParseState(cached); err != nil {
			b.Fatal(err)
		}
	}
}
