package main

// End-to-end tests: TestMain builds the real dialua binary once and the tests
// run it as a child process, the way an operator would.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/dialua/dialua/runtime/sandbox"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binPath is the dialua binary built by TestMain.
var binPath string

// bundledScripts is the repo's scripts folder, relative to this package.
const bundledScripts = "../../scripts"

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	sandbox.LimitArrays()
	dir, err := os.MkdirTemp("", "dialua-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkdir temp:", err)
		return 1
	}
	defer os.RemoveAll(dir)

	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = "/usr/local/go/bin/go"
	}
	binPath = filepath.Join(dir, "dialua")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, goBin, "build", "-o", binPath, ".")
	build.Stdout = os.Stderr
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "go build dialua:", err)
		return 1
	}
	return m.Run()
}

// result is what a finished dialua run left behind.
type result struct {
	code   int
	stdout string
	stderr string
}

// runDialua runs the binary to completion (bounded at 30s) and returns its
// exit status and output. A run killed by the deadline fails the test.
func runDialua(t *testing.T, dir string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("dialua %q did not finish within 30s; stderr:\n%s", args, stderr.String())
	}
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("dialua %q: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// writeFiles creates each relative path under root with its content.
func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// --- dialua check -----------------------------------------------------------

func TestCheckReportsEachBrokenFile(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"acme/good.lua": "local x = 1\nresponse:hangup()\n",
		// Syntax error on line 3.
		"acme/bad.lua": "local a = 1\nlocal b = 2\nlocal c = = 3\nresponse:hangup()\n",
		// Nested one folder down, error on line 2.
		"acme/menus/broken.lua": "response:hangup()\nif then\n",
		"other/index.lua":       "response:play_tts{\"hi\"}\n",
	})
	r := runDialua(t, root, "check", root)
	if r.code != 1 {
		t.Fatalf("exit status %d, want 1; stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	got := lines(r.stdout)
	if len(got) != 2 {
		t.Fatalf("want exactly 2 lines on stdout (one per broken file), got %d:\n%s", len(got), r.stdout)
	}
	want := map[string]string{ // file -> line
		"acme/bad.lua":          "3",
		"acme/menus/broken.lua": "2",
	}
	seen := map[string]bool{}
	for _, l := range got {
		// tenant/file.lua:LINE: message
		file, rest, ok := strings.Cut(l, ":")
		if !ok {
			t.Errorf("line %q is not file:line: message", l)
			continue
		}
		line, msg, ok := strings.Cut(rest, ": ")
		if !ok {
			t.Errorf("line %q is not file:line: message", l)
			continue
		}
		wantLine, known := want[file]
		if !known {
			t.Errorf("line %q names an unexpected file %q", l, file)
			continue
		}
		if seen[file] {
			t.Errorf("file %s reported twice", file)
		}
		seen[file] = true
		if line != wantLine {
			t.Errorf("line %q: line number %s, want %s", l, line, wantLine)
		}
		if strings.TrimSpace(msg) == "" {
			t.Errorf("line %q has an empty message", l)
		}
		if strings.Contains(msg, "\n") || strings.HasPrefix(msg, file) {
			t.Errorf("line %q: message repeats the location or spans lines", l)
		}
	}
	if !strings.Contains(r.stderr, "4 scripts checked, 2 with errors") {
		t.Errorf("stderr %q lacks the summary \"4 scripts checked, 2 with errors\"", r.stderr)
	}
}

func TestCheckCleanFolder(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"acme/good.lua":     "local x = 1\nresponse:hangup()\n",
		"acme/lib/util.lua": "return { answer = 42 }\n",
		"acme/.hidden.lua":  "this is not lua at all (\n", // hidden: skipped
		"acme/notes.txt":    "not lua (\n",                // not .lua: skipped
	})
	r := runDialua(t, root, "check", root)
	if r.code != 0 {
		t.Fatalf("exit status %d, want 0; stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing", r.stdout)
	}
	if !strings.Contains(r.stderr, "2 scripts checked, 0 with errors") {
		t.Errorf("stderr %q lacks \"2 scripts checked, 0 with errors\"", r.stderr)
	}
}

func TestCheckBundledScripts(t *testing.T) {
	r := runDialua(t, ".", "check", bundledScripts)
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("the bundled scripts must compile: exit %d, stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	// With no argument check reads ./scripts.
	r = runDialua(t, "../..", "check")
	if r.code != 0 || r.stdout != "" {
		t.Fatalf("check with the default ./scripts from the repo root: exit %d, stdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
}

func TestCheckBadUsage(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "plain.lua")
	writeFiles(t, root, map[string]string{"plain.lua": "response:hangup()\n"})
	cases := []struct {
		name string
		args []string
	}{
		{"missing folder", []string{"check", filepath.Join(root, "does-not-exist")}},
		{"file not folder", []string{"check", file}},
		{"two arguments", []string{"check", root, root}},
		{"unknown flag", []string{"check", "--bogus", root}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runDialua(t, root, c.args...)
			if r.code != 2 {
				t.Fatalf("dialua %q: exit status %d, want 2; stdout:\n%s\nstderr:\n%s", c.args, r.code, r.stdout, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing on bad usage", r.stdout)
			}
		})
	}
}

// --- bad usage --------------------------------------------------------------

func TestBadUsage(t *testing.T) {
	root := t.TempDir()
	cases := []struct {
		name string
		args []string
	}{
		{"no command", nil},
		{"unknown command", []string{"frobnicate"}},
		{"serve missing scripts", []string{"serve", "--scripts", "/nonexistent", "--listen", "127.0.0.1:0"}},
		{"serve bad log format", []string{"serve", "--scripts", bundledScripts, "--listen", "127.0.0.1:0", "--log-format", "xml"}},
		{"serve bad log level", []string{"serve", "--scripts", bundledScripts, "--listen", "127.0.0.1:0", "--log-level", "loud"}},
		{"serve extra argument", []string{"serve", "--scripts", bundledScripts, "--listen", "127.0.0.1:0", "extra"}},
		{"serve unknown flag", []string{"serve", "--bogus"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := "."
			if len(c.args) > 0 && c.args[0] != "serve" {
				dir = root
			}
			r := runDialua(t, dir, c.args...)
			if r.code != 2 {
				t.Fatalf("dialua %q: exit status %d, want 2; stderr:\n%s", c.args, r.code, r.stderr)
			}
			if r.stderr == "" {
				t.Errorf("dialua %q: no message on stderr", c.args)
			}
		})
	}
}

func TestVersionAndHelp(t *testing.T) {
	r := runDialua(t, ".", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "dialua ") {
		t.Errorf("version: exit %d, stdout %q", r.code, r.stdout)
	}
	r = runDialua(t, ".", "help")
	if r.code != 0 || !strings.Contains(r.stdout, "dialua serve") {
		t.Errorf("help: exit %d, stdout %q", r.code, r.stdout)
	}
}

// --- dialua serve -----------------------------------------------------------

// syncBuffer collects a child's output; it may be read while the child runs.
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

// serveProc is a running "dialua serve".
type serveProc struct {
	cmd    *exec.Cmd
	addr   string // 127.0.0.1:port
	base   string // http://127.0.0.1:port
	stderr *syncBuffer
	done   chan struct{} // closed when the process has exited
	err    error         // from Wait; read only after done
}

// freePort picks a loopback port by listening on port 0 and closing.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// newClient returns a client that keeps no idle connections and has a
// bounded timeout.
func newClient() *http.Client {
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true},
	}
}

// startServe starts "dialua serve --listen ADDR extra..." and waits until
// /healthz answers 200. The process is killed in t.Cleanup if still running.
func startServe(t *testing.T, extra ...string) *serveProc {
	t.Helper()
	return startServeIn(t, "", extra...)
}

// startServeIn is startServe with the process working in dir ("" for this
// package's folder).
func startServeIn(t *testing.T, dir string, extra ...string) *serveProc {
	t.Helper()
	addr := freePort(t)
	args := append([]string{"serve", "--listen", addr}, extra...)
	cmd := exec.Command(binPath, args...)
	cmd.Dir = dir
	s := &serveProc{cmd: cmd, addr: addr, base: "http://" + addr, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout = s.stderr
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			cmd.Process.Kill()
			select {
			case <-s.done:
			case <-time.After(10 * time.Second):
				t.Errorf("dialua serve (pid %d) did not die after kill", cmd.Process.Pid)
			}
		}
		if t.Failed() {
			t.Logf("dialua serve output:\n%s", s.stderr.String())
		}
	})

	client := &http.Client{Timeout: 500 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(5 * time.Second)
	for attempt := 0; attempt < 100 && time.Now().Before(deadline); attempt++ {
		select {
		case <-s.done:
			t.Fatalf("dialua serve exited before answering /healthz (%v); output:\n%s", s.err, s.stderr.String())
		default:
		}
		resp, err := client.Get(s.base + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("dialua serve did not answer /healthz with 200 within 5s; output:\n%s", s.stderr.String())
	return nil
}

// waitExit waits up to d for the process to exit and returns its status.
func (s *serveProc) waitExit(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(d):
		t.Fatalf("dialua serve did not exit within %v; output:\n%s", d, s.stderr.String())
	}
	if s.err == nil {
		return 0
	}
	var ee *exec.ExitError
	if !errors.As(s.err, &ee) {
		t.Fatalf("wait: %v", s.err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		t.Fatalf("dialua serve was killed by %v instead of exiting; output:\n%s", ws.Signal(), s.stderr.String())
	}
	return ee.ExitCode()
}

func TestServeBundledDemo(t *testing.T) {
	s := startServe(t, "--scripts", bundledScripts)
	client := newClient()

	resp, err := client.Get(s.base + "/demo/support?subscription_code=934924")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, want 200; body:\n%s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/xml; charset=utf-8" {
		t.Errorf("Content-Type %q, want %q", ct, "text/xml; charset=utf-8")
	}
	if !bytes.Contains(body, []byte(`<Jump context="QueueGold" option="start"/>`)) {
		t.Errorf("body lacks the gold queue jump:\n%s", body)
	}

	// A script that does not exist is a 404 with an (empty) XML response.
	resp, err = client.Get(s.base + "/demo/no-such-script")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing script: status %d, want 404", resp.StatusCode)
	}

	// SIGINT (Ctrl-C) on an idle server: clean exit.
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := s.waitExit(t, 10*time.Second); code != 0 {
		t.Errorf("exit status %d after SIGINT, want 0; output:\n%s", code, s.stderr.String())
	}
}

func TestServePortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r := runDialua(t, ".", "serve", "--scripts", bundledScripts, "--listen", ln.Addr().String())
	if r.code != 1 {
		t.Fatalf("serve on a busy port: exit status %d, want 1; stderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stderr, "address already in use") {
		t.Errorf("stderr %q does not say the address is in use", r.stderr)
	}
}

func TestServeGracefulShutdown(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"t/slow.lua": "local t0 = os.clock() while os.clock() - t0 < 0.4 do end response:hangup()\n",
	})
	s := startServe(t, "--scripts", root, "--timeout", "3s")

	type reply struct {
		status int
		body   string
		err    error
	}
	got := make(chan reply, 1)
	started := time.Now()
	go func() {
		resp, err := newClient().Get(s.base + "/t/slow")
		if err != nil {
			got <- reply{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- reply{status: resp.StatusCode, body: string(b), err: err}
	}()

	time.Sleep(100 * time.Millisecond)
	select {
	case r := <-got:
		t.Fatalf("the slow request finished before SIGTERM (%v); cannot test draining: %+v", time.Since(started), r)
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	select {
	case r := <-got:
		if r.err != nil {
			t.Fatalf("in-flight request failed during shutdown: %v", r.err)
		}
		if r.status != http.StatusOK {
			t.Errorf("in-flight request: status %d, want 200; body:\n%s", r.status, r.body)
		}
		if !strings.Contains(r.body, "<Hangup/>") {
			t.Errorf("in-flight request: body lacks <Hangup/>:\n%s", r.body)
		}
		if el := time.Since(started); el < 400*time.Millisecond {
			t.Errorf("slow request answered after %v; the script should have run ~400ms", el)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("in-flight request got no answer within 10s of SIGTERM")
	}

	if code := s.waitExit(t, 10*time.Second); code != 0 {
		t.Errorf("exit status %d after SIGTERM, want 0; output:\n%s", code, s.stderr.String())
	}

	conn, err := net.DialTimeout("tcp", s.addr, 2*time.Second)
	if err == nil {
		conn.Close()
		t.Fatalf("a new connection to %s succeeded after the server exited", s.addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial after exit: %v, want connection refused", err)
	}
}
