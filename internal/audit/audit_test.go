package audit

import (
	"encoding/hex"
	"errors"
	"testing"
	"time"
)

func chain(n int, cp Checkpoint) []Entry {
	prev := cp.Prev()
	var out []Entry
	for i := range n {
		e := Entry{OrgID: "org_1", Seq: cp.Seq + uint64(i) + 1, At: time.UnixMilli(1_700_000_000_000 + int64(i)).UTC(),
			PrincipalID: "usr_a", Principal: "a@example.com", Action: ActionRead, EnvID: "env_1", Env: "acme/web/production",
			Revision: int64(i), Address: "192.0.2.1", CLIVersion: "secr/1.0.0", Command: "run", Detail: ""}
		e.Hash = e.Sum(prev)
		prev = e.Hash
		out = append(out, e)
	}
	return out
}

// TestKnownAnswer pins the encoding docs/audit.md describes (the value was
// computed independently from that description): changing it breaks every
// stored log.
func TestKnownAnswer(t *testing.T) {
	es := chain(1, Checkpoint{})
	const want = "e02ca6eb0e05c33bb2196a89490113974f20e89e8a27cc993c47a11df613cb6c"
	if got := hex.EncodeToString(es[0].Hash); got != want {
		t.Fatalf("hash of the first entry is %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	es := chain(5, Checkpoint{})
	if err := Verify("org_1", Checkpoint{}, es); err != nil {
		t.Fatal(err)
	}
	if err := Verify("org_1", Checkpoint{Seq: 2, Hash: es[1].Hash}, es[2:]); err != nil {
		t.Fatalf("from a checkpoint: %v", err)
	}
	edits := map[string]func(e *Entry){
		"org":       func(e *Entry) { e.OrgID = "org_2" },
		"time":      func(e *Entry) { e.At = e.At.Add(time.Millisecond) },
		"principal": func(e *Entry) { e.Principal = "b@example.com" },
		"action":    func(e *Entry) { e.Action = ActionWrite },
		"env":       func(e *Entry) { e.Env = "acme/web/staging" },
		"revision":  func(e *Entry) { e.Revision++ },
		"address":   func(e *Entry) { e.Address = "203.0.113.1" },
		"command":   func(e *Entry) { e.Command = "export" },
		"detail":    func(e *Entry) { e.Detail = "x" },
		"hash":      func(e *Entry) { e.Hash[0] ^= 1 },
		"seq":       func(e *Entry) { e.Seq = 9 },
	}
	for name, edit := range edits {
		c := chain(5, Checkpoint{})
		edit(&c[2])
		var me *MismatchError
		if err := Verify("org_1", Checkpoint{}, c); !errors.As(err, &me) || (me.Seq != 3 && me.Seq != 9) {
			t.Errorf("edited %s: %v", name, err)
		}
	}
	// A deleted entry shows at the next one; a wrong checkpoint at the first.
	var me *MismatchError
	if err := Verify("org_1", Checkpoint{}, append(append([]Entry{}, es[:2]...), es[3:]...)); !errors.As(err, &me) || me.Seq != 4 {
		t.Errorf("deleted entry: %v", err)
	}
	if err := Verify("org_1", Checkpoint{Seq: 2, Hash: es[0].Hash}, es[2:]); !errors.As(err, &me) || me.Seq != 3 {
		t.Errorf("wrong checkpoint: %v", err)
	}
	if err := Verify("org_1", Checkpoint{}, es[1:]); !errors.As(err, &me) || me.Seq != 2 {
		t.Errorf("first entry deleted: %v", err)
	}
	want := "audit entry 4 does not match its hash: the row was edited or an entry before it was deleted"
	if err := Verify("org_1", Checkpoint{}, append(append([]Entry{}, es[:2]...), es[3:]...)); err == nil || err.Error()[:len(want)] != want {
		t.Errorf("message: %v", err)
	}
}
