package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/testkit"
)

type testServer struct {
	t    *testing.T
	base string
	dir  string
	logs *testkit.Logs // the engine's and the server's log
	srv  *Server
}

// start runs a real server on a loopback port over an engine over the
// scripts in dir (testkit.NewEngine), both logging to the same recorder. The
// run deadline defaults to 500ms.
func start(t *testing.T, dir string, opts engine.Options) *testServer {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = 500 * time.Millisecond
	}
	eng := testkit.NewEngine(t, dir, opts)
	srv := New(Config{Engine: eng, Logger: eng.Logs.Logger(), MaxBodyBytes: 16 << 10})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.fs.Shutdown() }) // before the engine closes
	return &testServer{t: t, base: "http://" + ln.Addr().String(), dir: dir, logs: eng.Logs, srv: srv}
}

var client = &http.Client{Timeout: 10 * time.Second}

type answer struct {
	status int
	ctype  string
	body   string
}

func (s *testServer) get(path string) answer {
	s.t.Helper()
	resp, err := client.Get(s.base + path)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	return read(s.t, resp)
}

func (s *testServer) post(path string, form url.Values) answer {
	s.t.Helper()
	resp, err := client.PostForm(s.base+path, form)
	if err != nil {
		s.t.Fatalf("POST %s: %v", path, err)
	}
	return read(s.t, resp)
}

func read(t *testing.T, resp *http.Response) answer {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}
}

// verbs checks a 200 XML answer and decodes it strictly.
func (r answer) verbs(t *testing.T) []protocol.Verb {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("status %d, want 200; body %s", r.status, r.body)
	}
	if r.ctype != "text/xml; charset=utf-8" {
		t.Errorf("Content-Type %q", r.ctype)
	}
	resp, err := protocol.Decode([]byte(r.body))
	if err != nil {
		t.Fatalf("%v\n%s", err, r.body)
	}
	return resp.Verbs
}

// wantEmptyError checks an error answer: the status, and a body that is a
// valid empty response so an IVR carries on.
func (r answer) wantEmptyError(t *testing.T, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	resp, err := protocol.Decode([]byte(r.body))
	if err != nil || len(resp.Verbs) != 0 {
		t.Fatalf("error body is not an empty <Response>: %q (%v)", r.body, err)
	}
}

// rawRequest sends bytes as they are (no client-side path cleaning) and
// returns the status code.
func rawRequest(t *testing.T, base, request string) int {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading answer to %q: %v", request, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func rawGet(t *testing.T, base, path string) int {
	return rawRequest(t, base, fmt.Sprintf("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path))
}
