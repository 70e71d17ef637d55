package server

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/session"
	"github.com/dialua/dialua/runtime/testkit"
	"github.com/dialua/dialua/runtime/testkit/redistest"
)

// victimScript counts one call's requests in the session and reports the
// store's error instead of failing, so a test sees what a script would.
const victimScript = `
local n, err = session.incr("n")
if n then response:set_var("n", n) else response:set_var("err", err) end`

// TestRedisTimedOutTenantDoesNotStopOthers: a tenant whose every run spins
// on session.set until its deadline fires (so the deadline lands in the
// middle of a Redis call) does not switch Redis sessions off for another
// tenant, nor for its own next run: the run's deadline is not a Redis
// failure.
func TestRedisTimedOutTenantDoesNotStopOthers(t *testing.T) {
	r := redistest.Start(t)
	s := start(t, testkit.Scripts(t, map[string]string{
		"evil/spin.lua": `
local i = 0
while true do
  i = i + 1
  session.set("k" .. (i % 50), "v" .. i)
end`,
		"evil/once.lua":    victimScript,
		"victim/count.lua": victimScript,
	}), engine.Options{Sessions: testkit.RedisSessions(t, r, session.RedisOptions{}), Timeout: 200 * time.Millisecond})

	var wg sync.WaitGroup
	stop := make(chan struct{})
	defer wg.Wait()
	defer close(stop)
	for g := 0; g < 3; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				select {
				case <-stop:
					return
				default:
				}
				// Not s.get: it may not fail the test from this goroutine.
				resp, err := client.Get(s.base + "/evil/spin?CallID=e" + strconv.Itoa(i))
				if err != nil {
					t.Errorf("spinning run: %v", err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != 500 {
					t.Errorf("spinning run: status %d, want 500 (deadline)", resp.StatusCode)
				}
			}
		}()
	}
	// Each spinning run lasts 200 ms; over 1.5 s many of them end inside a
	// session call while the victim keeps counting.
	deadline := time.Now().Add(1500 * time.Millisecond)
	for n := 1; time.Now().Before(deadline); n++ {
		got := testkit.Vars(s.get("/victim/count?CallID=v").verbs(t))
		if got["n"] != strconv.Itoa(n) {
			t.Errorf("victim request %d while another tenant times out: %v", n, got)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The spinning tenant's own next run is not locked out either.
	if got := testkit.Vars(s.get("/evil/once?CallID=x").verbs(t)); got["n"] != "1" {
		t.Errorf("the timed-out tenant's next run: %v", got)
	}
}

// TestRedisTenantQuotaThroughServer: a tenant that fills its byte quota in
// Redis gets the quota error in its script, while another tenant's writes
// go on succeeding.
func TestRedisTenantQuotaThroughServer(t *testing.T) {
	r := redistest.Start(t)
	store := testkit.RedisSessions(t, r, session.RedisOptions{
		Limits: session.RedisLimits{PerSession: 32 << 10, PerTenant: 96 << 10}})
	s := start(t, testkit.Scripts(t, map[string]string{
		"evil/fill.lua": `
local big = string.rep("x", 20000)
local ok, err = session.set("big", big)
response:set_var("r", ok and "ok" or err)`,
		"victim/count.lua": victimScript,
	}), engine.Options{Sessions: store, Timeout: 2 * time.Second})
	var last string
	for i := 0; i < 10; i++ {
		last = testkit.Vars(s.get("/evil/fill?CallID=c" + strconv.Itoa(i)).verbs(t))["r"]
		if last != "ok" {
			break
		}
	}
	if last != session.ErrTenantQuota.Error() {
		t.Fatalf("filling the tenant's quota ended with %q, want %q", last, session.ErrTenantQuota)
	}
	for n := 1; n <= 3; n++ {
		got := testkit.Vars(s.get("/victim/count?CallID=v").verbs(t))
		if got["n"] != strconv.Itoa(n) {
			t.Errorf("victim while another tenant is at its quota: %v", got)
		}
	}
	if got := testkit.Vars(s.get("/evil/fill?CallID=more").verbs(t))["r"]; !strings.Contains(got, "quota") {
		t.Errorf("tenant past its quota can still write: %q", got)
	}
}
