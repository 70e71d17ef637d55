package engine

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/dialua/dialua/runtime/protocol"
)

// A run shorter than a slice never checks in with the scheduler (which
// gives the thread up while holding a CPU token), however many such runs
// come one after another on the VM; a long one does.
func TestShortRunsDoNotCheckIn(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a"), 0o755)
	os.WriteFile(filepath.Join(dir, "a", "short.lua"), []byte("local n = 0\nfor i = 1, 100 do n = n + i end\nresponse:set_var('n', n)\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "a", "long.lua"), []byte("local n = 0\nfor i = 1, 100000 do n = n + i end\nresponse:set_var('n', n)\n"), 0o644)
	e, err := New(Options{ScriptsDir: dir, VMs: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	run := func(script string) int {
		req := &protocol.Request{Method: "GET", Path: "/a/" + script, Tenant: "a", Script: script}
		if _, err := e.Run(context.Background(), req, nil); err != nil {
			t.Fatal(err)
		}
		v, _ := e.pool.get()
		defer e.pool.put(v)
		return v.slice.ticks
	}
	for range 200 { // 200 runs of about 400 instructions: 80,000
		if n := run("short"); n != 0 {
			t.Fatalf("short runs checked in %d times", n)
		}
	}
	if n := run("long"); n == 0 {
		t.Fatal("a run of 300,000 instructions never checked in")
	}
}
