package testkit

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Received is one request a Backend got.
type Received struct {
	Method, Path, Query, Body string
	Remote                    string // the client's address: same for one kept-alive connection
	Header                    http.Header
}

// Backend is an HTTP server on 127.0.0.1 (httptest) that records every
// request before its handler answers it. Scripts reach it through the http
// module only when the engine runs with Options.Dev, or the tenant lists it
// and loopback is allowed.
type Backend struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []Received
}

// NewBackend starts a backend answering with h (nil: 200 "ok" to
// everything) and closes it when the test ends. h sees the request body
// whole, up to 1 MiB, as recorded.
func NewBackend(t testing.TB, h http.Handler) *Backend {
	t.Helper()
	if h == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	}
	b := &Backend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		b.mu.Lock()
		b.reqs = append(b.reqs, Received{r.Method, r.URL.Path, r.URL.RawQuery, string(body), r.RemoteAddr, r.Header.Clone()})
		b.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(b.Close)
	if !strings.HasPrefix(b.URL, "http://127.0.0.1:") {
		t.Fatalf("backend is not on 127.0.0.1: %s", b.URL)
	}
	return b
}

// HostPort is the backend's address as an http allowlist entry names it.
func (b *Backend) HostPort() string { return strings.TrimPrefix(b.URL, "http://") }

// Received returns a copy of the requests so far, in arrival order.
func (b *Backend) Received() []Received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Received(nil), b.reqs...)
}
