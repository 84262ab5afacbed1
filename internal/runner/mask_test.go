package runner

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// maskAll masks chunks written one after the other, with a hold-back
// timer that never fires: however slowly the test runs, no pause falls
// between them.
func maskAll(values map[string]string, chunks ...string) string {
	var out syncBuffer
	m := NewMasker(&out, values)
	m.afterFunc = func(d time.Duration, f func()) resetter { return &manualTimer{d: d, fire: f} }
	for _, c := range chunks {
		m.Write([]byte(c))
	}
	m.Flush()
	return out.String()
}

func TestMasker(t *testing.T) {
	secrets := map[string]string{"TOKEN": "sk_live_abc", "LONG": "sk_live_abcdef", "PORT": "80", "PEM": "-----BEGIN-----\nAAAA\n-----END-----"}
	tests := []struct {
		name   string
		chunks []string
		want   string
	}{
		{"whole", []string{"token=sk_live_abc done\n"}, "token=[secr:TOKEN] done\n"},
		{"byte at a time", strings.Split("x sk_live_abc y", ""), "x [secr:TOKEN] y"},
		{"longest wins", []string{"sk_live_abcdef"}, "[secr:LONG]"},
		{"longest wins across writes", []string{"sk_live_abc", "def!"}, "[secr:LONG]!"},
		{"shorter when longer does not complete", []string{"sk_live_abc", "dX"}, "[secr:TOKEN]dX"},
		{"short values left alone", []string{"port 80\n"}, "port 80\n"},
		{"pem lf", []string{"key: -----BEGIN-----\nAA", "AA\n-----END-----\n"}, "key: [secr:PEM]\n"},
		{"pem crlf", []string{"-----BEGIN-----\r\nAAAA\r\n-----END-----\r\n"}, "[secr:PEM]\r\n"},
		{"prefix at end is flushed", []string{"almost sk_live_a"}, "almost sk_live_a"},
		{"colour codes pass", []string{"\x1b[31mred sk_live_abc\x1b[0m"}, "\x1b[31mred [secr:TOKEN]\x1b[0m"},
	}
	for _, tt := range tests {
		if got := maskAll(secrets, tt.chunks...); got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

// manualTimer is a hold-back timer that fires only when the test says so.
type manualTimer struct {
	d      time.Duration
	fire   func()
	resets int
}

func (t *manualTimer) Reset(d time.Duration) bool { t.d = d; t.resets++; return true }

func TestMaskerFlushesAfterPause(t *testing.T) {
	var out syncBuffer
	m := NewMasker(&out, map[string]string{"T": "secret-value"})
	var timer *manualTimer
	m.afterFunc = func(d time.Duration, f func()) resetter {
		timer = &manualTimer{d: d, fire: f}
		return timer
	}
	m.Write([]byte("prompt> secret"))
	if got := out.String(); got != "prompt> " {
		t.Fatalf("before the pause: %q", got)
	}
	if timer == nil || timer.d != MaskPause {
		t.Fatalf("no hold-back timer of %s started: %+v", MaskPause, timer)
	}
	// More of the secret arrives within the pause: the timer restarts and
	// the value is masked once complete.
	m.Write([]byte("-val"))
	if timer.resets != 1 || out.String() != "prompt> " {
		t.Fatalf("timer not restarted (%d) or prefix leaked: %q", timer.resets, out.String())
	}
	timer.fire()
	if got := out.String(); got != "prompt> secret-val" {
		t.Fatalf("held-back prefix not flushed after a pause: %q", got)
	}
}

// FuzzMasker checks that however output is split into writes, no secret
// reaches the output and everything else does.
func FuzzMasker(f *testing.F) {
	f.Add("abc sk_live_123 def", uint8(1))
	f.Add("sk_live_123sk_live_123", uint8(3))
	f.Add("sk_live_12sk_live_123", uint8(2))
	f.Fuzz(func(t *testing.T, text string, step uint8) {
		secret := "sk_live_123"
		if step == 0 {
			step = 1
		}
		var chunks []string
		for i := 0; i < len(text); i += int(step) {
			chunks = append(chunks, text[i:min(i+int(step), len(text))])
		}
		got := maskAll(map[string]string{"S": secret}, chunks...)
		if strings.Contains(got, secret) {
			t.Fatalf("secret leaked: %q -> %q", text, got)
		}
		if want := strings.ReplaceAll(text, secret, "[secr:S]"); got != want {
			t.Fatalf("%q split by %d: got %q, want %q", text, step, got, want)
		}
	})
}
