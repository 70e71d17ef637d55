package luar_test

// Regression tests of the security review's finding A: a Lua function a
// script passes to Go used to be wrapped by gopher-luar, so Go's arguments
// reached it as writable gopher-luar values (channels included), it ran on
// a new thread without the engine's checks, and its results were converted
// with no depth check (a Go stack overflow, fatal to the process).

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialua/dialua/luaapi/luar"
	"github.com/dialua/dialua/runtime/engine"
)

type SRCustomer struct {
	Name   string
	Tags   []string
	Events chan string
	Boss   *SRCustomer
}

type SRDir struct {
	mu sync.Mutex
	c  *SRCustomer
}

// Each is an ordinary visitor API: read-only intent.
func (d *SRDir) Each(f func(*SRCustomer)) { f(d.c) }
func (d *SRDir) Get() *SRCustomer         { return d.c }
func (d *SRDir) Map(f func() any) int     { f(); return 1 }

func newSRDir() *SRDir {
	return &SRDir{c: &SRCustomer{Name: "Alice", Boss: &SRCustomer{Name: "Bob"}, Events: make(chan string, 1)}}
}

// (a) A callback's arguments are our read-only views: no write reaches
// shared Go memory, and getmetatable gives "luar", not gopher-luar's.
func TestCallbackArgsReadOnly(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"evil/w.lua": `
			crm:Each(function(c)
				response:set_var("mt", tostring(getmetatable(c)))
				response:set_var("boss", c.Boss.Name)
				local ok, err = pcall(function() c.Name = "pwned by evil" end)
				response:set_var("name", tostring(err))
				ok, err = pcall(function() c.Boss = nil end)
				response:set_var("boss_err", tostring(err))
			end)
		`,
		"acme/r.lua": `response:set_var("name", crm:Get().Name) response:set_var("boss", crm:Get().Boss.Name)`,
	})
	d := newSRDir()
	// Writable or not: what Go passes to a script's function is read-only.
	for _, opts := range [][]luar.Option{nil, {luar.Writable()}} {
		e := newEngine(t, dir, nil, engine.Options{}, luar.Value("crm", d, opts...))
		v := mustRun(t, e, "evil", "w")
		if v["mt"] != "luar" || v["boss"] != "Bob" ||
			!strings.Contains(v["name"], "is read-only") || !strings.Contains(v["boss_err"], "is read-only") {
			t.Fatalf("callback argument: %v", v)
		}
		if got := mustRun(t, e, "acme", "r"); got["name"] != "Alice" || got["boss"] != "Bob" {
			t.Fatalf("tenant acme sees %v after evil's run", got)
		}
	}
}

// (b) A channel is as unreachable through a callback's argument as
// anywhere else, and the run ends at its deadline.
func TestCallbackChannelRefused(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"evil/c.lua": `crm:Each(function(c) local ch = c.Events; ch("x"); ch("y") end)`,
	})
	e := newEngine(t, dir, nil, engine.Options{Timeout: 200 * time.Millisecond}, luar.Value("crm", newSRDir()))
	done := make(chan error, 1)
	go func() { _, err := run(context.Background(), e, "evil", "c"); done <- err }()
	select {
	case err := <-done:
		if se := scriptError(t, err); se.Kind != engine.KindRuntime || !strings.Contains(se.Message, "chan string values are not exposed") {
			t.Fatalf("got %v", se)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("run blocked on a channel 3s past its 200ms deadline")
	}
}

// (c) A callback runs on the run's own state: the engine's memory limit
// and deadline apply inside it as outside.
func TestCallbackEngineChecks(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"evil/m.lua":      `crm:Each(function(c) local t = {} for i = 1, 1e9 do t[i] = {i, i, i, i} end end)`,
		"evil/loop.lua":   `crm:Each(function(c) while true do end end)`,
		"evil/nested.lua": `crm:Each(function(c) crm:Each(function(c2) while true do end end) end)`,
	})
	// Time enough to reach the limit under -race too.
	e := newEngine(t, dir, nil, engine.Options{Timeout: 10 * time.Second, MaxRunMemory: 32 << 20}, luar.Value("crm", newSRDir()))
	runtime.GC()
	stop := make(chan struct{})
	peak := make(chan uint64)
	go func() {
		var ms runtime.MemStats
		var p uint64
		for {
			select {
			case <-stop:
				peak <- p
				return
			case <-time.After(10 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			p = max(p, ms.HeapAlloc)
		}
	}()
	_, err := run(context.Background(), e, "evil", "m")
	close(stop)
	if se := scriptError(t, err); se.Kind != engine.KindMemory {
		t.Fatalf("allocating callback: %v (kind %v)", se, se.Kind)
	}
	if p := <-peak; p > 256<<20 {
		t.Errorf("peak heap %d MiB against a 32 MiB run limit", p>>20)
	}
	e2 := newEngine(t, dir, nil, engine.Options{Timeout: 200 * time.Millisecond}, luar.Value("crm", newSRDir()))
	for _, s := range []string{"loop", "nested"} {
		start := time.Now()
		_, err = run(context.Background(), e2, "evil", s)
		if se := scriptError(t, err); se.Kind != engine.KindTimeout || time.Since(start) > 2*time.Second {
			t.Fatalf("%s: %v (kind %v) after %v", s, se, se.Kind, time.Since(start))
		}
	}
}

// (d) A callback's result is converted with the bridge's limits: a table
// nested 2,000,000 deep is an error, not a fatal Go stack overflow. (e) No
// Lua function leaves a run inside a result.
func TestCallbackResultsChecked(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"evil/d.lua": `crm:Map(function() local t = {} for i = 1, 2000000 do t = {t} end return t end)`,
		"evil/f.lua": `crm:Map(function() return function() end end)`,
		"evil/g.lua": `crm:Map(function() return {f = print} end)`,
	})
	e := newEngine(t, dir, nil, engine.Options{Timeout: 20 * time.Second, MaxRunMemory: -1}, luar.Value("crm", newSRDir()))
	for s, want := range map[string]string{
		"d": "Map: bad result #1 from the script's function (table nested deeper than 32)",
		"f": "a Lua function cannot be stored in Go",
		"g": "cannot hold a function",
	} {
		_, err := run(context.Background(), e, "evil", s)
		if se := scriptError(t, err); !strings.Contains(se.Message, want) {
			t.Fatalf("%s: %q, want %q", s, se.Message, want)
		}
	}
}
