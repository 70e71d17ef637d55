package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/testkit"
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
	dir := testkit.Scripts(t, map[string]string{
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
	dir := testkit.Scripts(t, map[string]string{
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
	dir := testkit.Scripts(t, map[string]string{
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
