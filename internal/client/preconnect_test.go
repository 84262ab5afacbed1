package client

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// TestPreconnect: the connection dialled ahead is the one the first
// request uses (the server sees one connection, made before any request).
func TestPreconnect(t *testing.T) {
	var conns atomic.Int32
	first := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"status":"ok"}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew && conns.Add(1) == 1 {
			close(first)
		}
	}
	srv.Start()
	defer srv.Close()
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.Preconnect()
	<-first // connected before any request was made
	if err := c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("the server saw %d connections, want the preconnected one only", n)
	}
}

// TestPreconnectFailedDialsAgain: a preconnect that failed (nothing
// listened yet) is not the request's answer: the request dials again, and
// reaches the server that started meanwhile.
func TestPreconnectFailedDialsAgain(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c, err := New("http://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Preconnect()
	<-c.pre.done
	if c.pre.err == nil {
		t.Fatal("the preconnect reached a closed port")
	}
	if ln, err = net.Listen("tcp", addr); err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"status":"ok"}`))
	})}
	go srv.Serve(ln)
	defer srv.Close()
	if err := c.Health(context.Background()); err != nil {
		t.Fatalf("the request after a failed preconnect: %v", err)
	}
}
