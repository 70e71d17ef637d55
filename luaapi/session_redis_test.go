package luaapi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/session"
	"github.com/dialua/dialua/runtime/testkit"
	"github.com/dialua/dialua/runtime/testkit/redistest"
)

func TestSessionsInRedis(t *testing.T) {
	r := redistest.Start(t)
	testSessions(t, engine.Options{Sessions: testkit.RedisSessions(t, r, session.RedisOptions{})})
}

// TestTwoNodesShareOneRedis: a call's first request lands on one dialua
// node, the next on another; both see the same session.
func TestTwoNodesShareOneRedis(t *testing.T) {
	r := redistest.Start(t)
	dir := testkit.Scripts(t, map[string]string{
		"a/step.lua": `
local n = assert(session.incr("step"))
local seen = session.get("seen") or ""
assert(session.set("seen", seen .. request.params.node))
response:set_var("step", n)
response:set_var("seen", seen .. request.params.node)`,
	})
	nodeA := testkit.NewEngine(t, dir, engine.Options{Sessions: testkit.RedisSessions(t, r, session.RedisOptions{})})
	nodeB := testkit.NewEngine(t, dir, engine.Options{Sessions: testkit.RedisSessions(t, r, session.RedisOptions{})})
	for i, node := range []*testkit.Engine{nodeA, nodeB, nodeA, nodeB} {
		name := string(rune('A' + i%2))
		got := node.Vars(t, "/a/step", "CallID", "shared-call", "node", name)
		if want := []string{"A", "AB", "ABA", "ABAB"}[i]; got["seen"] != want || got["step"] != string(rune('1'+i)) {
			t.Errorf("request %d on node %s: %v, want seen=%s step=%d", i+1, name, got, want, i+1)
		}
	}
}

// TestRedisDownAndBack: while Redis is down, session calls return nil and an
// error the script can act on, quickly, and the run succeeds; when Redis is
// back, sessions work again without a restart.
func TestRedisDownAndBack(t *testing.T) {
	r := redistest.Start(t)
	e := testkit.NewEngine(t, testkit.Scripts(t, map[string]string{
		"a/count.lua": `
local n, err = session.incr("n")
if err then
  response:set_var("fallback", err)
else
  response:set_var("n", n)
end`,
	}), engine.Options{Sessions: testkit.RedisSessions(t, r, session.RedisOptions{}), Timeout: 3 * time.Second})
	if got := e.Vars(t, "/a/count", "CallID", "c"); got["n"] != "1" {
		t.Fatalf("with Redis up: %v", got)
	}
	r.Down()
	begin := time.Now()
	got := e.Vars(t, "/a/count", "CallID", "c")
	if !strings.Contains(got["fallback"], "session store unavailable") {
		t.Errorf("with Redis down: %v", got)
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("a session call with Redis down took %v", d)
	}
	r.Up()
	if d, ok := testkit.Within(5*time.Second, func() bool {
		return e.Vars(t, "/a/count", "CallID", "c")["n"] != ""
	}); !ok {
		t.Fatalf("sessions did not come back %v after Redis did", d)
	}
}

// TestHungRedisFailsFast: a Redis that accepts connections but does not
// answer (stopped with SIGSTOP) costs a session call at most its short
// timeout, and later calls fail at once while the breaker is open, so
// scripts fall back instead of spending their deadline.
func TestHungRedisFailsFast(t *testing.T) {
	r := redistest.Start(t)
	e := testkit.NewEngine(t, testkit.Scripts(t, map[string]string{
		"a/count.lua": `
local n, err = session.incr("n")
response:set_var("r", n and tostring(n) or ("fallback: " .. err))`,
	}), engine.Options{Sessions: testkit.RedisSessions(t, r, session.RedisOptions{}), Timeout: 2 * time.Second})
	if got := e.Vars(t, "/a/count", "CallID", "h"); got["r"] != "1" {
		t.Fatalf("before: %v", got)
	}
	resume := r.Hang()
	for i := 0; i < 3; i++ {
		begin := time.Now()
		got := e.Vars(t, "/a/count", "CallID", "h")
		if !strings.HasPrefix(got["r"], "fallback: session store unavailable") {
			t.Errorf("call %d with Redis hung: %v", i, got)
		}
		if d := time.Since(begin); d > 600*time.Millisecond {
			t.Errorf("call %d with Redis hung took %v", i, d)
		}
	}
	resume()
	if d, ok := testkit.Within(5*time.Second, func() bool {
		return !strings.HasPrefix(e.Vars(t, "/a/count", "CallID", "h")["r"], "fallback")
	}); !ok {
		t.Errorf("sessions did not recover %v after Redis did", d)
	}
}
