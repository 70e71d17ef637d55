package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitLog waits (bounded) until the server's output holds want n times.
func (s *serveProc) waitLog(t *testing.T, want string, n int) {
	t.Helper()
	for range 100 {
		if strings.Count(s.stderr.String(), want) >= n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %q (x%d) in the output within 5s:\n%s", want, n, s.stderr.String())
}

func getText(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := newClient().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// SIGHUP re-reads the --config file (live settings applied, the others
// named as needing a restart, a bad file changing nothing) and the tenants
// file, even a change its modification time does not show.
func TestServeSIGHUPReloads(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"t/color.lua":  `response:set_var("c", env.COLOR or "none")`,
		"tenants.yaml": "tenants:\n  t:\n    env:\n      COLOR: red\n",
	})
	cfg := filepath.Join(t.TempDir(), "dialua.yaml")
	if err := os.WriteFile(cfg, []byte("log-level: info\naccess-log: all\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, "--scripts", root, "--config", cfg)
	hup := func() {
		t.Helper()
		if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	accessLines := func() int { return strings.Count(s.stderr.String(), "msg=request ") }
	if code, body := getText(t, s.base+"/t/color"); code != 200 || !strings.Contains(body, ">red<") {
		t.Fatalf("before: %d %s", code, body)
	}
	s.waitLog(t, "msg=request ", 1)

	// The same size, and the old modification time put back: only a
	// forced read sees this change.
	tf := filepath.Join(root, "tenants.yaml")
	fi, err := os.Stat(tf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tf, []byte("tenants:\n  t:\n    env:\n      COLOR: blu\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tf, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte("log-level: info\naccess-log: off\nvms: 7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hup()
	s.waitLog(t, `msg="reload: configuration applied" changed=access-log`, 1)
	if out := s.stderr.String(); !strings.Contains(out, "take effect at the next restart\" keys=vms") {
		t.Errorf("no restart warning naming vms:\n%s", out)
	}
	n := accessLines()
	if code, body := getText(t, s.base+"/t/color"); code != 200 || !strings.Contains(body, ">blu<") {
		t.Fatalf("after SIGHUP the tenants file was not re-read: %d %s", code, body)
	}
	if code, _ := getText(t, s.base+"/readyz"); code != 200 {
		t.Errorf("/readyz: %d", code)
	}
	if m := accessLines(); m != n {
		t.Errorf("access-log: off applied, yet %d more access lines", m-n)
	}

	// A file that does not load changes nothing.
	if err := os.WriteFile(cfg, []byte("access-log: sometimes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hup()
	s.waitLog(t, "the configuration does not load", 1)
	getText(t, s.base+"/t/color")
	if m := accessLines(); m != n {
		t.Errorf("a bad file turned the access log back on (%d more lines)", m-n)
	}

	// Back to all: lines again.
	if err := os.WriteFile(cfg, []byte("access-log: all\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hup()
	s.waitLog(t, `msg="reload: configuration applied"`, 2)
	getText(t, s.base+"/t/color")
	s.waitLog(t, "msg=request ", n+1)
}
