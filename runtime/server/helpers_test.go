package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/protocol"
)

// logBuffer collects the server's JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// records returns every log record whose msg is msg.
func (l *logBuffer) records(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(l.buf.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

type testServer struct {
	t    *testing.T
	base string
	dir  string
	logs *logBuffer
	srv  *Server
}

// start runs a real server on a loopback port over scripts in dir.
func start(t *testing.T, dir string, opts engine.Options) *testServer {
	t.Helper()
	logs := &logBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.ScriptsDir = dir
	opts.Logger = log
	if opts.Timeout == 0 {
		opts.Timeout = 500 * time.Millisecond
	}
	eng, err := engine.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Engine: eng, Logger: log, MaxBodyBytes: 16 << 10})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.fs.Shutdown()
		eng.Close()
	})
	return &testServer{t: t, base: "http://" + ln.Addr().String(), dir: dir, logs: logs, srv: srv}
}

// scriptsDir makes a scripts root from path -> source.
func scriptsDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		writeFile(t, filepath.Join(dir, name), src)
	}
	return dir
}

func writeFile(t *testing.T, path, src string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
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

func sameVerbs(t *testing.T, got, want []protocol.Verb) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d verbs, want %d\n got: %v\nwant: %v", len(got), len(want), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("verb %d:\n got: %s\nwant: %s", i, got[i], want[i])
		}
	}
}

// vars collects the SetVar verbs of a response as a map.
func vars(vs []protocol.Verb) map[string]string {
	m := map[string]string{}
	for _, v := range vs {
		if v.Kind == protocol.SetVar {
			m[v.Name] = v.Text
		}
	}
	return m
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
