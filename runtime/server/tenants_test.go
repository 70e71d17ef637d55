package server

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/testkit"
)

// TestTenantsFileLimitsAndReload: a tenant's timeout and concurrency limit
// apply, and an edit of the file applies within a couple of seconds.
func TestTenantsFileLimitsAndReload(t *testing.T) {
	dir := testkit.Scripts(t, map[string]string{
		"a/loop.lua": `while true do end`,
		"a/busy.lua": `local t0 = os.clock() while os.clock() - t0 < 0.4 do end response:hangup()`,
		"a/env.lua":  `response:set_var("v", tostring(env.V))`,
		"tenants.yaml": `
defaults:
  timeout: 3s
tenants:
  a:
    timeout: 150ms
    max_concurrent: 1
    env: {V: "one"}
`,
	})
	s := start(t, dir, engine.Options{Timeout: 5 * time.Second})
	begin := time.Now()
	s.get("/a/loop").wantEmptyError(t, 500)
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("tenant timeout of 150ms not applied: the loop ran %v", d)
	}
	if rec := s.logs.Records("script failed"); len(rec) == 0 || !strings.Contains(rec[0]["error"].(string), "150ms") {
		t.Errorf("timeout record: %v", rec)
	}

	// Raise the timeout for the busy script, then fire two at once: one runs,
	// the other gets 503 at once.
	testkit.WriteFile(t, filepath.Join(dir, "tenants.yaml"), `
tenants:
  a:
    timeout: 2s
    max_concurrent: 1
    env: {V: "two"}
`)
	if d, ok := testkit.Within(3*time.Second, func() bool { return testkit.Vars(s.get("/a/env").verbs(t))["v"] == "two" }); !ok {
		t.Fatalf("tenants file edit not applied after %v", d)
	}
	var wg sync.WaitGroup
	statuses := make([]int, 2)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i == 1 {
				time.Sleep(100 * time.Millisecond)
			}
			statuses[i] = s.get("/a/busy").status
		}()
	}
	wg.Wait()
	if statuses[0] != 200 || statuses[1] != 503 {
		t.Errorf("statuses %v, want [200 503] with max_concurrent 1", statuses)
	}

	// A broken edit is refused and logged; the last good version stays.
	testkit.WriteFile(t, filepath.Join(dir, "tenants.yaml"), "tenants:\n  a:\n    timeout: soon\n")
	if _, ok := testkit.Within(3*time.Second, func() bool {
		s.get("/a/env")
		return len(s.logs.Records("tenants file does not parse; the previous version stays in force")) > 0
	}); !ok {
		t.Fatal("a broken tenants file was not reported")
	}
	if got := testkit.Vars(s.get("/a/env").verbs(t)); got["v"] != "two" {
		t.Errorf("after a broken edit: %v", got)
	}
}

func TestBrokenTenantsFileStopsStartup(t *testing.T) {
	dir := testkit.Scripts(t, map[string]string{"tenants.yaml": "tenants: [1, 2]\n"})
	if _, err := engine.New(engine.Options{ScriptsDir: dir}); err == nil || !strings.Contains(err.Error(), "tenants.yaml") {
		t.Errorf("New with a broken tenants file: %v", err)
	}
}
