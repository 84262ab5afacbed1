package runner

import (
	"bytes"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// MinMaskLen is the shortest value that is masked: shorter values (a port,
// "true") would blank out ordinary output.
const MinMaskLen = 4

// MaskPause is how long output that ends in the first bytes of a secret is
// held back waiting for the rest. A secret written with longer pauses
// between its bytes is not recognised: masking guards against accidents
// in logs, it is not a security boundary.
const MaskPause = 100 * time.Millisecond

type maskPattern struct {
	value []byte
	label []byte
}

// Masker is an io.Writer that replaces secret values in a stream with
// [secr:NAME]. It is correct across write boundaries: a value split over
// several writes is still replaced. Longer values win over values they
// contain. Multi-line values also match with CRLF line ends (as a terminal
// shows them).
type Masker struct {
	mu      sync.Mutex
	out     io.Writer
	pats    []maskPattern // longest first
	pending []byte
	timer   resetter
	err     error
	// afterFunc starts the hold-back timer (time.AfterFunc; tests inject
	// their own clock).
	afterFunc func(time.Duration, func()) resetter
}

// resetter is the part of *time.Timer the masker uses.
type resetter interface{ Reset(time.Duration) bool }

// NewMasker masks values (name → value) in what is written to out.
func NewMasker(out io.Writer, values map[string]string) *Masker {
	m := &Masker{out: out, afterFunc: func(d time.Duration, f func()) resetter { return time.AfterFunc(d, f) }}
	m.pats = patterns(values)
	return m
}

// SetValues replaces the values to mask (after the secrets changed).
func (m *Masker) SetValues(values map[string]string) {
	pats := patterns(values)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pats = pats
}

func patterns(values map[string]string) []maskPattern {
	var pats []maskPattern
	for name, v := range values {
		if len(v) < MinMaskLen {
			continue
		}
		label := []byte("[secr:" + name + "]")
		pats = append(pats, maskPattern{[]byte(v), label})
		if strings.Contains(v, "\n") {
			crlf := strings.ReplaceAll(strings.ReplaceAll(v, "\r\n", "\n"), "\n", "\r\n")
			pats = append(pats, maskPattern{[]byte(crlf), label})
		}
	}
	sort.Slice(pats, func(i, j int) bool { return len(pats[i].value) > len(pats[j].value) })
	return pats
}

// Write masks p and writes what is certain; a tail that could still become
// a secret is held for at most MaskPause.
func (m *Masker) Write(p []byte) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return 0, m.err
	}
	m.pending = append(m.pending, p...)
	m.process(false)
	if len(m.pending) > 0 {
		if m.timer == nil {
			m.timer = m.afterFunc(MaskPause, m.Flush)
		} else {
			m.timer.Reset(MaskPause)
		}
	}
	return len(p), m.err
}

// Flush writes out everything held back.
func (m *Masker) Flush() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.process(true)
}

// process masks m.pending. Unless final, it stops at a position where a
// longer match might still complete with more input.
func (m *Masker) process(final bool) {
	var out bytes.Buffer
	i := 0
	for i < len(m.pending) {
		rest := m.pending[i:]
		var match *maskPattern
		wait := false
		for k := range m.pats {
			p := &m.pats[k]
			if bytes.HasPrefix(rest, p.value) {
				match = p
				break // longest first: the first full match is the longest
			}
			if !final && len(rest) < len(p.value) && bytes.HasPrefix(p.value, rest) {
				wait = true // a longer secret may still be arriving
				break
			}
		}
		if wait {
			break
		}
		if match != nil {
			out.Write(match.label)
			i += len(match.value)
			continue
		}
		out.WriteByte(rest[0])
		i++
	}
	m.pending = append(m.pending[:0], m.pending[i:]...)
	if out.Len() > 0 && m.err == nil {
		_, m.err = m.out.Write(out.Bytes())
	}
}
