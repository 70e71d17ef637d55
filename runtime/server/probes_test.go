package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/testkit"
)

// serveProbes runs a server with cfg and returns it with its base URL.
func serveProbes(t *testing.T, cfg Config) (*Server, string, *testkit.Logs) {
	t.Helper()
	e := testkit.NewEngine(t, testkit.Scripts(t, map[string]string{"acme/ok.lua": `response:hangup()`}), engine.Options{})
	cfg.Engine, cfg.Logger = e.Engine, e.Logs.Logger()
	srv := New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { ln.Close() })
	return srv, "http://" + ln.Addr().String(), e.Logs
}

func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// /readyz on the IVR listener: ready while the backend answers, 503 with
// the backend's error when it does not, 503 once draining; /healthz stays
// 200 throughout (the process is alive).
func TestReadyzFollowsBackendAndDrain(t *testing.T) {
	var down error
	srv, base, _ := serveProbes(t, Config{Ready: func(context.Context) error { return down }})
	if s, b := getBody(t, base+"/readyz"); s != 200 || b != "ready\n" {
		t.Fatalf("readyz: %d %q", s, b)
	}
	down = errors.New("session store: dial tcp 127.0.0.1:1: connection refused")
	if s, b := getBody(t, base+"/readyz"); s != 503 || !strings.Contains(b, "connection refused") {
		t.Fatalf("readyz with the store down: %d %q", s, b)
	}
	down = nil
	srv.Drain()
	if s, b := getBody(t, base+"/readyz"); s != 503 || b != "draining\n" {
		t.Fatalf("readyz draining: %d %q", s, b)
	}
	if s, b := getBody(t, base+"/healthz"); s != 200 || b != "ok\n" {
		t.Fatalf("healthz draining: %d %q", s, b)
	}
	// Calls in flight and new ones are still served while draining.
	if s, _ := getBody(t, base+"/acme/ok"); s != 200 {
		t.Fatalf("script while draining: %d", s)
	}
}

// SetAccessLog changes the access log while serving (what a reload does).
func TestSetAccessLogLive(t *testing.T) {
	srv, base, logs := serveProbes(t, Config{})
	count := func() int { return len(logs.Records("request")) }
	for range 3 {
		getBody(t, base+"/acme/ok")
	}
	if n := count(); n != 3 {
		t.Fatalf("all: %d lines, want 3", n)
	}
	srv.SetAccessLog(AccessErrors, 1)
	getBody(t, base+"/acme/ok")
	getBody(t, base+"/acme/nope")
	if n := count(); n != 4 {
		t.Fatalf("errors: %d lines, want 4 (only the 404 added)", n)
	}
	srv.SetAccessLog(AccessAll, 4)
	for range 8 {
		getBody(t, base+"/acme/ok")
	}
	if n := count(); n != 6 {
		t.Fatalf("sample 4: %d lines, want 6 (two of eight added)", n)
	}
	srv.SetAccessLog(AccessOff, 1)
	getBody(t, base+"/acme/nope")
	if n := count(); n != 6 {
		t.Fatalf("off: %d lines, want 6", n)
	}
}
