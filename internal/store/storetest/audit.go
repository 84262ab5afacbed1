package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/secr-dev/secr/internal/audit"
	"github.com/secr-dev/secr/internal/store"
)

// RunAudit runs the audit log's part of the suite. open must return a new,
// empty store.
func RunAudit(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"AppendAndList", testAuditAppend},
		{"InTransaction", testAuditInTransaction},
		{"Concurrent", testAuditConcurrent},
		{"Prune", testAuditPrune},
		{"LargeBatch", testAuditLargeBatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

func auditEntry(org, action string, at time.Time) audit.Entry {
	return audit.Entry{OrgID: org, At: at, PrincipalID: "usr_a", Principal: "a@example.com", Action: action,
		EnvID: "env_dev", Env: "acme/web/development", Revision: 3, Address: "192.0.2.1", CLIVersion: "secr/1.2.3",
		Command: "run", Detail: "d"}
}

// checkAudit checks that org's log verifies and has seqs from..to.
func checkAudit(t *testing.T, s store.Store, org string, from, to uint64) (audit.Checkpoint, []audit.Entry) {
	t.Helper()
	cp, es, err := s.AuditLog(ctx, org, store.AuditQuery{})
	must(t, err)
	if err := audit.Verify(org, cp, es); err != nil {
		t.Fatalf("%s: %v", org, err)
	}
	if cp.Seq != from-1 || uint64(len(es)) != to-from+1 || (len(es) > 0 && es[0].Seq != from) {
		t.Fatalf("%s: checkpoint %d and %d entries, want entries %d to %d", org, cp.Seq, len(es), from, to)
	}
	return cp, es
}

func testAuditAppend(t *testing.T, s store.Store) {
	t0 := now()
	must(t, s.AppendAudit(ctx, auditEntry("org_1", "read", t0), auditEntry("org_2", "signin", t0), auditEntry("org_1", "write", t0.Add(time.Second))))
	must(t, s.AppendAudit(ctx, auditEntry("org_1", "read", t0.Add(2*time.Second))))
	_, es := checkAudit(t, s, "org_1", 1, 3)
	checkAudit(t, s, "org_2", 1, 1)
	checkAudit(t, s, "org_3", 1, 0)
	got := es[1]
	want := auditEntry("org_1", "write", t0.Add(time.Second))
	want.Seq, want.Hash = 2, got.Hash
	if fmt.Sprint(got) != fmt.Sprint(want) || !got.At.Equal(want.At) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
	}
	_, since, err := s.AuditLog(ctx, "org_1", store.AuditQuery{Since: t0.Add(time.Second)})
	must(t, err)
	if len(since) != 2 || since[0].Seq != 2 {
		t.Fatalf("since: %+v", since)
	}
	// Verify finds an edited entry and a missing one.
	edited := append([]audit.Entry(nil), es...)
	edited[1].Revision = 99
	var me *audit.MismatchError
	if err := audit.Verify("org_1", audit.Checkpoint{}, edited); !errors.As(err, &me) || me.Seq != 2 {
		t.Fatalf("edited entry: %v", err)
	}
	if err := audit.Verify("org_1", audit.Checkpoint{}, []audit.Entry{es[0], es[2]}); !errors.As(err, &me) || me.Seq != 3 {
		t.Fatalf("deleted entry: %v", err)
	}
}

func testAuditInTransaction(t *testing.T, s store.Store) {
	setupProject(t, s)
	e := auditEntry("org_1", "write", now())
	must(t, s.AppendRevision(store.WithAudit(ctx, e), rev("env_dev", 1), 0))
	checkAudit(t, s, "org_1", 1, 1)
	// A change refused is not recorded.
	if err := s.AppendRevision(store.WithAudit(ctx, e), rev("env_dev", 1), 0); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale append: %v", err)
	}
	if err := s.CreateEnvironment(store.WithAudit(ctx, e), store.Environment{ID: "env_x", ProjectID: "prj_1", Name: "x", KeyVersion: 1, CreatedAt: now()}, nil, app(1, 1)); !errors.Is(err, store.ErrChainMoved) {
		t.Fatalf("stale chain append: %v", err)
	}
	checkAudit(t, s, "org_1", 1, 1)
	must(t, s.CreateEnvironment(store.WithAudit(ctx, e), store.Environment{ID: "env_x", ProjectID: "prj_1", Name: "x", KeyVersion: 1, CreatedAt: now()}, nil, app(4, 1)))
	checkAudit(t, s, "org_1", 1, 2)
}

func testAuditConcurrent(t *testing.T, s store.Store) {
	const workers, each = 16, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				org := "org_1"
				if i%3 == 0 {
					org = "org_2"
				}
				errs <- s.AppendAudit(ctx, auditEntry(org, fmt.Sprintf("read %d/%d", w, i), now()))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	n2 := uint64(workers * ((each + 2) / 3))
	checkAudit(t, s, "org_1", 1, workers*each-n2)
	checkAudit(t, s, "org_2", 1, n2)
}

func testAuditPrune(t *testing.T, s store.Store) {
	t0 := now().Add(-time.Hour)
	for i := range 5 {
		must(t, s.AppendAudit(ctx, auditEntry("org_1", "read", t0.Add(time.Duration(i)*time.Minute))))
	}
	must(t, s.AppendAudit(ctx, auditEntry("org_2", "read", t0.Add(30*time.Minute))))
	_, before := checkAudit(t, s, "org_1", 1, 5)
	n, err := s.PruneAudit(ctx, t0.Add(2*time.Minute))
	must(t, err)
	if n != 2 {
		t.Fatalf("pruned %d, want 2", n)
	}
	cp, _ := checkAudit(t, s, "org_1", 3, 5)
	if string(cp.Hash) != string(before[1].Hash) {
		t.Fatal("checkpoint is not the last pruned entry's hash")
	}
	checkAudit(t, s, "org_2", 1, 1)
	// Appends continue the chain after pruning, and after pruning everything.
	must(t, s.AppendAudit(ctx, auditEntry("org_1", "read", now())))
	checkAudit(t, s, "org_1", 3, 6)
	n, err = s.PruneAudit(ctx, now().Add(time.Minute))
	must(t, err)
	if n != 5 {
		t.Fatalf("pruned %d, want 5", n)
	}
	checkAudit(t, s, "org_1", 7, 6)
	must(t, s.AppendAudit(ctx, auditEntry("org_1", "read", now())))
	checkAudit(t, s, "org_1", 7, 7)
	if n, err := s.PruneAudit(ctx, t0); err != nil || n != 0 {
		t.Fatalf("prune of nothing: %d, %v", n, err)
	}
}

func testAuditLargeBatch(t *testing.T, s store.Store) {
	var es []audit.Entry
	for i := range 1203 {
		org := "org_1"
		if i%2 == 1 {
			org = "org_2"
		}
		es = append(es, auditEntry(org, fmt.Sprintf("read %d", i), now()))
	}
	must(t, s.AppendAudit(ctx, es...))
	checkAudit(t, s, "org_1", 1, 602)
	checkAudit(t, s, "org_2", 1, 601)
}
