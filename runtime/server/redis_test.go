package server

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/session"
)

// redisServer is a real redis-server on a loopback port, owned by one test.
type redisServer struct {
	t    *testing.T
	port string
	cmd  *exec.Cmd
}

// startRedis runs redis-server for the test. Without the binary the test is
// skipped, except in CI (CI set), where .ci/run installs it and a missing
// binary is a failure.
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server not installed; .ci/run should install it")
		}
		t.Skip("redis-server not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:")
	ln.Close()
	r := &redisServer{t: t, port: port}
	r.up()
	t.Cleanup(r.down)
	return r
}

func (r *redisServer) url() string { return "redis://127.0.0.1:" + r.port + "/0" }

func (r *redisServer) up() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", r.port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--protected-mode", "yes")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+r.port, 50*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.t.Fatal("redis-server did not start")
}

func (r *redisServer) down() {
	if r.cmd != nil && r.cmd.Process != nil {
		r.cmd.Process.Kill()
		r.cmd.Wait()
		r.cmd = nil
	}
}

func redisStore(t *testing.T, r *redisServer) *session.Redis {
	t.Helper()
	st, err := session.NewRedis(r.url())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

func TestSessionsInRedis(t *testing.T) {
	r := startRedis(t)
	testSessions(t, engine.Options{Sessions: redisStore(t, r)})
}

// TestTwoNodesShareOneRedis: a call's first request lands on one dialua
// node, the next on another; both see the same session.
func TestTwoNodesShareOneRedis(t *testing.T) {
	r := startRedis(t)
	dir := scriptsDir(t, map[string]string{
		"a/step.lua": `
local n = assert(session.incr("step"))
local seen = session.get("seen") or ""
assert(session.set("seen", seen .. request.params.node))
response:set_var("step", n)
response:set_var("seen", seen .. request.params.node)`,
	})
	nodeA := start(t, dir, engine.Options{Sessions: redisStore(t, r)})
	nodeB := start(t, dir, engine.Options{Sessions: redisStore(t, r)})
	for i, node := range []*testServer{nodeA, nodeB, nodeA, nodeB} {
		name := string(rune('A' + i%2))
		got := vars(node.get("/a/step?CallID=shared-call&node=" + name).verbs(t))
		if want := []string{"A", "AB", "ABA", "ABAB"}[i]; got["seen"] != want || got["step"] != string(rune('1'+i)) {
			t.Errorf("request %d on node %s: %v, want seen=%s step=%d", i+1, name, got, want, i+1)
		}
	}
}

// TestRedisDownAndBack: while Redis is down, session calls return nil and an
// error the script can act on, quickly, and the server stays up; when Redis
// is back, sessions work again without a restart.
func TestRedisDownAndBack(t *testing.T) {
	r := startRedis(t)
	s := start(t, scriptsDir(t, map[string]string{
		"a/count.lua": `
local n, err = session.incr("n")
if err then
  response:set_var("fallback", err)
else
  response:set_var("n", n)
end`,
	}), engine.Options{Sessions: redisStore(t, r), Timeout: 3 * time.Second})
	if got := vars(s.get("/a/count?CallID=c").verbs(t)); got["n"] != "1" {
		t.Fatalf("with Redis up: %v", got)
	}
	r.down()
	begin := time.Now()
	got := vars(s.get("/a/count?CallID=c").verbs(t))
	if !strings.Contains(got["fallback"], "session store unavailable") {
		t.Errorf("with Redis down: %v", got)
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("a session call with Redis down took %v", d)
	}
	r.up()
	if d, ok := within(5*time.Second, func() bool {
		return vars(s.get("/a/count?CallID=c").verbs(t))["n"] != ""
	}); !ok {
		t.Fatalf("sessions did not come back %v after Redis did", d)
	}
}

// TestHungRedisFailsFast: a Redis that accepts connections but does not
// answer (stopped with SIGSTOP) costs a session call at most its short
// timeout, and later calls fail at once while the breaker is open, so
// scripts fall back instead of spending their deadline.
func TestHungRedisFailsFast(t *testing.T) {
	r := startRedis(t)
	s := start(t, scriptsDir(t, map[string]string{
		"a/count.lua": `
local n, err = session.incr("n")
response:set_var("r", n and tostring(n) or ("fallback: " .. err))`,
	}), engine.Options{Sessions: redisStore(t, r), Timeout: 2 * time.Second})
	if got := vars(s.get("/a/count?CallID=h").verbs(t)); got["r"] != "1" {
		t.Fatalf("before: %v", got)
	}
	r.cmd.Process.Signal(syscall.SIGSTOP)
	defer r.cmd.Process.Signal(syscall.SIGCONT)
	for i := 0; i < 3; i++ {
		begin := time.Now()
		got := vars(s.get("/a/count?CallID=h").verbs(t))
		if !strings.HasPrefix(got["r"], "fallback: session store unavailable") {
			t.Errorf("call %d with Redis hung: %v", i, got)
		}
		if d := time.Since(begin); d > 600*time.Millisecond {
			t.Errorf("call %d with Redis hung took %v", i, d)
		}
	}
	r.cmd.Process.Signal(syscall.SIGCONT)
	if d, ok := within(5*time.Second, func() bool {
		return !strings.HasPrefix(vars(s.get("/a/count?CallID=h").verbs(t))["r"], "fallback")
	}); !ok {
		t.Errorf("sessions did not recover %v after Redis did", d)
	}
}
