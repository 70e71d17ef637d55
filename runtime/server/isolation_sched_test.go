package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/protocol"
)

// attack keeps n clients sending GET path to s until stop, and counts the
// answers by status. Each client stops by itself once stop closes.
func attack(s *testServer, path string, n int, stop <-chan struct{}) (statuses *sync.Map, wait func()) {
	statuses = &sync.Map{}
	var wg sync.WaitGroup
	c := &http.Client{Timeout: 10 * time.Second}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := c.Get(s.base + path)
				code := 0
				if err == nil {
					code = resp.StatusCode
					resp.Body.Close()
				}
				v, _ := statuses.LoadOrStore(code, new(atomic.Int64))
				v.(*atomic.Int64).Add(1)
			}
		}()
	}
	return statuses, wg.Wait
}

// calmCalls sends n requests one after another and returns their statuses
// and the slowest answer's time.
func calmCalls(t *testing.T, s *testServer, path string, n int) (bad []string, slowest time.Duration) {
	t.Helper()
	for i := 0; i < n; i++ {
		begin := time.Now()
		resp, err := client.Get(s.base + path)
		d := time.Since(begin)
		slowest = max(slowest, d)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			bad = append(bad, fmt.Sprintf("request %d: status %d after %v", i, resp.StatusCode, d))
		}
	}
	return bad, slowest
}

const calmScript = `
local code = request.params.code or ""
response:set_var("code", code)
response:play_tts{"Thank you", voice = "Alice-8KHz"}
response:jump{context = "Queue", option = "start"}
`

// A tenant whose scripts loop until their deadline, from more clients than
// there are VMs, must neither starve another tenant of VMs nor of CPU.
func TestIsolationLoopingTenant(t *testing.T) {
	dir := scriptsDir(t, map[string]string{
		"calm/ivr.lua":     calmScript,
		"attacker/ivr.lua": `while true do end`,
	})
	s := start(t, dir, engine.Options{Timeout: time.Second, VMs: 8})
	if bad, _ := calmCalls(t, s, "/calm/ivr", 5); len(bad) > 0 {
		t.Fatalf("baseline: %v", bad)
	}
	stop := make(chan struct{})
	statuses, wait := attack(s, "/attacker/ivr", 24, stop)
	time.Sleep(300 * time.Millisecond) // every VM the attacker may take is taken
	bad, slowest := calmCalls(t, s, "/calm/ivr", 40)
	close(stop)
	wait()
	if len(bad) > 0 {
		t.Errorf("calm tenant failed while another looped: %v", bad)
	}
	// Without sharing, a calm request waits for a looping run to end (1s).
	if slowest > 500*time.Millisecond {
		t.Errorf("slowest calm answer took %v while another tenant looped", slowest)
	}
	var attackerRuns int64
	statuses.Range(func(k, v any) bool {
		attackerRuns += v.(*atomic.Int64).Load()
		return true
	})
	if attackerRuns == 0 {
		t.Error("the attacker got no answers at all")
	}
}

// Runs waiting on a slow backend hold their own tenant's VMs only, and no
// CPU.
func TestIsolationSlowBackendTenant(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
		fmt.Fprint(w, "late")
	}))
	defer backend.Close()
	host := strings.TrimPrefix(backend.URL, "http://")
	dir := scriptsDir(t, map[string]string{
		"calm/ivr.lua":     calmScript,
		"attacker/ivr.lua": `http.get("` + backend.URL + `/slow") response:hangup()`,
		"tenants.yaml":     "tenants:\n  attacker:\n    http:\n      allow: [\"" + host + "\"]\n      timeout: 5s\n",
	})
	s := start(t, dir, engine.Options{Timeout: time.Second, VMs: 8, Dev: true})
	stop := make(chan struct{})
	_, wait := attack(s, "/attacker/ivr", 24, stop)
	time.Sleep(300 * time.Millisecond)
	bad, slowest := calmCalls(t, s, "/calm/ivr", 40)
	close(stop)
	wait()
	if len(bad) > 0 {
		t.Errorf("calm tenant failed while another waited on a slow backend: %v", bad)
	}
	if slowest > 500*time.Millisecond {
		t.Errorf("slowest calm answer took %v", slowest)
	}
}

// The default share queues a tenant's requests rather than refusing them,
// and never lets it hold more VMs than its share.
func TestTenantShareQueues(t *testing.T) {
	dir := scriptsDir(t, map[string]string{
		"a/busy.lua": `local t0 = os.clock() while os.clock() - t0 < 0.05 do end response:hangup()`,
	})
	s := start(t, dir, engine.Options{Timeout: 3 * time.Second, VMs: 8, TenantVMs: 2})
	var wg sync.WaitGroup
	codes := make([]int, 6)
	begin := time.Now()
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := client.Get(s.base + "/a/busy")
			if err == nil {
				codes[i] = resp.StatusCode
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if c != 200 {
			t.Errorf("request %d: status %d, want 200 (queued, not refused)", i, c)
		}
	}
	// Six runs of 50ms of CPU, two at a time: at least three rounds.
	if d := time.Since(begin); d < 140*time.Millisecond {
		t.Errorf("six 50ms runs with a share of 2 VMs took only %v", d)
	}
}

// Unbounded tail recursion ends at the call-depth limit at once, inside
// pcall too, instead of running past its deadline building a traceback of
// one line per tail call; tail calls still return every value.
func TestTailCallBomb(t *testing.T) {
	dir := scriptsDir(t, map[string]string{
		"a/bomb.lua":   `local function f() return f() end f()`,
		"a/pbomb.lua":  `local function f() return f() end pcall(f) response:hangup()`,
		"a/values.lua": "local function f(n) if n == 0 then return 1, 2, 3 end return f(n - 1) end\n" + `local a, b, c = f(50) response:set_var("v", a .. b .. c)`,
	})
	s := start(t, dir, engine.Options{Timeout: time.Second})
	for _, path := range []string{"/a/bomb", "/a/pbomb"} {
		begin := time.Now()
		r := s.get(path)
		if d := time.Since(begin); d > 300*time.Millisecond {
			t.Errorf("%s answered after %v", path, d)
		}
		if path == "/a/bomb" {
			r.wantEmptyError(t, 500)
		} else if r.status != 200 {
			t.Errorf("%s: status %d; the overflow inside pcall is caught", path, r.status)
		}
	}
	rec := s.logs.records("script failed")
	if len(rec) != 1 || !strings.Contains(rec[0]["error"].(string), "stack overflow") {
		t.Fatalf("failure records: %v", rec)
	}
	if tb := rec[0]["traceback"].(string); len(tb) > 4096 || strings.Count(tb, "\n") > 20 {
		t.Errorf("traceback of %d bytes, %d lines", len(tb), strings.Count(tb, "\n"))
	}
	if got := vars(s.get("/a/values").verbs(t))["v"]; got != "123" {
		t.Errorf("tail-called results %q, want 123", got)
	}
}

// An error's location is where the VM was, not what the message says.
func TestErrorLocationFromVM(t *testing.T) {
	dir := scriptsDir(t, map[string]string{
		"a/forge.lua": "local x = 1\n" + `error("victim/ivr.lua:3: boom", 0)`,
		"a/table.lua": "\n\nerror({code = 1})",
		"a/deep.lua":  "local function f() return 1 + f() end\nf()",
		"a/index.lua": "local t = nil\nlocal y = t.field",
	})
	s := start(t, dir, engine.Options{})
	seen := 0
	for path, want := range map[string][2]string{
		"/a/forge": {"a/forge.lua:2", "victim/ivr.lua:3: boom"},
		"/a/table": {"a/table.lua:3", "error raised with a table value (not a string)"},
		"/a/index": {"a/index.lua:2", ""},
		"/a/deep":  {"a/deep.lua:1", ""},
	} {
		s.get(path).wantEmptyError(t, 500)
		all := s.logs.records("script failed")
		if len(all) != seen+1 {
			t.Fatalf("%s: %v", path, all)
		}
		rec := all[seen:]
		seen++
		if rec[0]["location"] != want[0] {
			t.Errorf("%s: location %v, want %s", path, rec[0]["location"], want[0])
		}
		if msg := rec[0]["error"].(string); want[1] != "" && msg != want[1] || strings.HasPrefix(msg, want[0]) {
			t.Errorf("%s: error %q", path, msg)
		}
		if tb := rec[0]["traceback"].(string); !strings.Contains(tb, want[0]) {
			t.Errorf("%s: traceback %q lacks %s", path, tb, want[0])
		}
	}
}

// A caller's cancelled context stops the run, as its deadline would.
func TestRunHonoursCallerContext(t *testing.T) {
	dir := scriptsDir(t, map[string]string{"a/loop.lua": `while true do end`})
	eng, err := engine.New(engine.Options{ScriptsDir: dir, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	begin := time.Now()
	_, err = eng.Run(ctx, &protocol.Request{Method: "GET", Path: "/a/loop", Tenant: "a", Script: "loop"}, nil)
	if err == nil || time.Since(begin) > time.Second {
		t.Errorf("run ended after %v with %v", time.Since(begin), err)
	}
}

// When the heap passes its limit, the run holding the memory is stopped and
// a run of another tenant in flight at the same time is not.
func TestMemoryStopsOnlyTheHolder(t *testing.T) {
	dir := scriptsDir(t, map[string]string{
		"hog/ivr.lua":  `local t = {} for i = 1, 1e5 do t[i] = string.rep("x", 1e6) .. i end`,
		"calm/ivr.lua": `local x, t0 = 0, os.clock() while os.clock() - t0 < 1.5 do x = x + 1 end response:hangup()`,
	})
	s := start(t, dir, engine.Options{Timeout: 20 * time.Second, MaxMemory: 96 << 20, MaxRunMemory: -1})
	calm := make(chan int, 1)
	go func() {
		resp, err := client.Get(s.base + "/calm/ivr")
		if err != nil {
			calm <- 0
			return
		}
		resp.Body.Close()
		calm <- resp.StatusCode
	}()
	time.Sleep(50 * time.Millisecond)
	s.get("/hog/ivr").wantEmptyError(t, 500)
	if code := <-calm; code != 200 {
		t.Errorf("the calm run in flight got %d; only the hog should be stopped", code)
	}
	recs := s.logs.records("script failed")
	if len(recs) != 1 || recs[0]["tenant"] != "hog" || recs[0]["kind"] != "memory" {
		t.Fatalf("failures: %v", recs)
	}
}

// A run is stopped once it holds more than its own limit, whatever the
// heap; a run holding less carries on.
func TestRunMemoryLimit(t *testing.T) {
	dir := scriptsDir(t, map[string]string{
		"a/tables.lua":  `local t = {} for i = 1, 1e7 do t[i] = {i} end`,
		"a/hash.lua":    `local t = {} for i = 1, 1e7 do t["k" .. i] = true end`,
		"a/strings.lua": `local t = {} for i = 1, 1e4 do t[i] = string.rep("y", 1e5) .. i end`,
		"a/small.lua":   `local t = {} for i = 1, 1e5 do t[i] = i end for i = 1, 2e5 do t[i % 100 + 1] = i end response:set_var("n", tostring(#t))`,
	})
	s := start(t, dir, engine.Options{Timeout: 20 * time.Second, MaxMemory: -1, MaxRunMemory: 16 << 20})
	for _, path := range []string{"/a/tables", "/a/hash", "/a/strings"} {
		s.get(path).wantEmptyError(t, 500)
	}
	recs := s.logs.records("script failed")
	if len(recs) != 3 {
		t.Errorf("%d failures, want 3", len(recs))
	}
	for _, r := range recs {
		if r["kind"] != "memory" || !strings.Contains(r["error"].(string), "16 MiB") {
			t.Errorf("failure: %v", r)
		}
	}
	if got := vars(s.get("/a/small").verbs(t))["n"]; got != "100000" {
		t.Errorf("small run: n = %q", got)
	}
}
