package server

import (
	"bytes"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/secr-dev/secr/internal/api"
)

// TestHeadCache checks that an answer head encoded once is served again
// (the marker planted in the cache comes back) only while every value it
// was encoded from is the same: not after a write, and never to another
// principal, even one whose entry holds the first one's values.
func TestHeadCache(t *testing.T) {
	e := newEnv(t, true)
	ada := e.signup("ada@example.com")
	e.createOrg(ada, "acme")
	p := e.createProject(ada, "acme", "web")
	if status, body := write(e, ada.auth, p, "development", 0); status != http.StatusCreated {
		t.Fatalf("write: %d %s", status, body)
	}
	tok, _ := e.token(ada, "acme", "web", p, "development", false)
	path := api.Path(api.SnapshotRoute, "acme", "web", "development")
	read := func(auth, path string) []byte {
		t.Helper()
		resp, body := e.getSnapshot(auth, path, api.SnapshotMediaType, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("snapshot: %d %s", resp.StatusCode, body)
		}
		return body
	}
	first := read(ada.auth, path)
	snap, err := api.DecodeSnapshot(first)
	if err != nil {
		t.Fatal(err)
	}
	ct := snap.Revision.Ciphertext
	c := &e.server.heads
	k := headKey{e.whoID(ada.auth), snap.Environment.ID}
	c.mu.Lock()
	entry := c.m[k]
	c.mu.Unlock()
	if entry == nil || !bytes.Equal(append(bytes.Clone(entry.head), ct...), first) {
		t.Fatalf("the answer's head is not cached as sent")
	}
	// A second read, served from the cache, is the same answer.
	if again := read(ada.auth, path); !bytes.Equal(again, first) {
		t.Fatal("the answer served from the cache differs")
	}

	// Plant a marker: it is what the cache serves while nothing changed.
	marker := []byte("marker")
	plant := func(k headKey, from *cachedHead) {
		c.mu.Lock()
		c.m[k] = &cachedHead{snap: from.snap, head: marker}
		c.mu.Unlock()
	}
	plant(k, entry)
	if got := read(ada.auth, path); !bytes.HasPrefix(got, marker) {
		t.Fatal("an unchanged answer was encoded again: the cache is not used")
	}

	// The token reads the same revision under its own grant: ada's values,
	// planted under its key, are not equal to its answer's.
	tk := headKey{e.whoID(tok), snap.Environment.ID}
	plant(tk, entry)
	if got := read(tok, api.TokenSnapshotPath); bytes.HasPrefix(got, marker) {
		t.Fatal("another principal was served a head encoded for ada")
	} else if ts, err := api.DecodeSnapshot(got); err != nil || bytes.Equal(ts.Grant, snap.Grant) || ts.CanWrite {
		t.Fatalf("the token's answer is not its own (%v)", err)
	}

	// A new revision: encoded again, with the new revision in it.
	plant(k, entry)
	if status, body := write(e, ada.auth, p, "development", 1); status != http.StatusCreated {
		t.Fatalf("write: %d %s", status, body)
	}
	got := read(ada.auth, path)
	if bytes.HasPrefix(got, marker) {
		t.Fatal("a head encoded before a write was served after it")
	}
	if s2, err := api.DecodeSnapshot(got); err != nil || s2.Revision.Revision != 2 {
		t.Fatalf("after a write: %v", err)
	} else if want, err := api.MarshalSnapshot(s2); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the answer is not api.MarshalSnapshot's form (%v)", err)
	}
}

// TestSameHeadComparesEveryField changes each field of an answer in turn
// (reflect finds them, so a field added to api.Snapshot, api.Environment
// or api.Revision is changed too) and checks that sameHead tells the
// answers apart, except by the ciphertext, which the head does not hold.
func TestSameHeadComparesEveryField(t *testing.T) {
	full := func() *api.Snapshot {
		return &api.Snapshot{
			Org: "acme", OrgID: "org_1", Project: "web",
			Environment: api.Environment{ID: "env_1", Name: "development", KeyVersion: 1, LatestRevision: 3},
			Revision: &api.Revision{Revision: 3, KeyVersion: 1, Header: []byte("h"), Ciphertext: []byte("c"),
				Author: "usr_1", CreatedAt: time.UnixMilli(1_700_000_000_000).UTC()},
			Grant: []byte("g"), CanWrite: true, Chain: [][]byte{[]byte("c1")}, Headers: [][]byte{[]byte("h1")},
			ChainHead: 7, Pending: true,
		}
	}
	if a, b := full(), full(); !sameHead(a, b) {
		t.Fatal("equal answers are not the same head")
	}
	var paths []string
	var walk func(v reflect.Value, path string)
	change := func(f reflect.Value) {
		switch f.Kind() {
		case reflect.String:
			f.SetString(f.String() + "x")
		case reflect.Int, reflect.Int64:
			f.SetInt(f.Int() + 1)
		case reflect.Uint64:
			f.SetUint(f.Uint() + 1)
		case reflect.Bool:
			f.SetBool(!f.Bool())
		case reflect.Slice:
			f.Set(reflect.Zero(f.Type())) // nil, where the answer has one
		default:
			t.Fatalf("no way to change a %s", f.Type())
		}
	}
	walk = func(v reflect.Value, path string) {
		for i := range v.NumField() {
			f, name := v.Field(i), path+v.Type().Field(i).Name
			switch {
			case f.Type() == reflect.TypeOf(time.Time{}):
				paths = append(paths, name)
			case f.Kind() == reflect.Struct:
				walk(f, name+".")
			case f.Kind() == reflect.Pointer:
				paths = append(paths, name)
				walk(f.Elem(), name+".")
			default:
				paths = append(paths, name)
			}
		}
	}
	walk(reflect.ValueOf(full()).Elem(), "")
	for _, path := range paths {
		b := full()
		f := reflect.ValueOf(b).Elem()
		for _, part := range strings.Split(path, ".") {
			if f.Kind() == reflect.Pointer {
				f = f.Elem()
			}
			f = f.FieldByName(part)
		}
		if f.Kind() == reflect.Slice && path != "Revision.Ciphertext" {
			// Also the same length with other bytes: comparing only
			// lengths or nil-ness must fail too.
			c := full()
			g := reflect.ValueOf(c).Elem()
			for _, part := range strings.Split(path, ".") {
				if g.Kind() == reflect.Pointer {
					g = g.Elem()
				}
				g = g.FieldByName(part)
			}
			if g = g.Index(0); g.Kind() == reflect.Slice {
				g = g.Index(0) // the first byte of a [][]byte's first element
			}
			g.SetUint(g.Uint() ^ 0xff)
			if sameHead(full(), c) {
				t.Errorf("sameHead does not compare the bytes of %s", path)
			}
		}
		switch {
		case f.Type() == reflect.TypeOf(time.Time{}):
			f.Set(reflect.ValueOf(b.Revision.CreatedAt.Add(time.Millisecond)))
		case f.Kind() == reflect.Pointer:
			f.Set(reflect.Zero(f.Type()))
		default:
			change(f)
		}
		same := sameHead(full(), b)
		if path == "Revision.Ciphertext" {
			if !same {
				t.Error("answers that differ only by the ciphertext are not the same head")
			}
			continue
		}
		if same {
			t.Errorf("sameHead does not compare %s", path)
		}
	}
	// Empty is not nil: JSON tells null from "".
	b := full()
	b.Grant = []byte{}
	if sameHead(&api.Snapshot{}, &api.Snapshot{Grant: []byte{}}) || sameHead(full(), b) {
		t.Error("a nil and an empty grant are the same head")
	}
}
