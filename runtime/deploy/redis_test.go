package deploy_test

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/session"
)

// startRedis runs a real redis-server on a free loopback port for the test
// (skipped without the binary, except under CI).
func startRedis(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server not installed")
		}
		t.Skip("redis-server not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:")
	ln.Close()
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for range 200 {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 50*time.Millisecond); err == nil {
			c.Close()
			return "redis://127.0.0.1:" + port + "/0"
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("redis-server did not start")
	return ""
}

// Pins in the Redis session store: two engines (two nodes) over one Redis
// and one release store see the same pins, and a call's hangup on one node
// removes the pin the other made.
func TestPinningRedis(t *testing.T) {
	url := startRedis(t)
	sess, err := session.NewRedis(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	e := newEnvWith(t, nil, sess)
	r1 := e.mustUpload("acme", release("v1"), "")
	e.activate("acme", r1.ID)
	if got := e.tag("acme", "ivr", "CallID", "A"); got != "v1" {
		t.Fatal(got)
	}
	r2 := e.mustUpload("acme", release("v2"), "")
	e.activate("acme", r2.ID)
	// Another node: a new picker and engine over the same session store
	// (the release store is this process's; a Redis release store is not
	// built yet).
	e.restart()
	if got := e.tag("acme", "ivr", "CallID", "A"); got != "v1" {
		t.Fatalf("pinned call on another node: %q", got)
	}
	if got := e.tag("acme", "ivr", "CallID", "B"); got != "v2" {
		t.Fatalf("new call: %q", got)
	}
	if got := e.tag("acme", "ivr", "CallID", "A", "EventType", "hangup"); got != "v1" {
		t.Fatalf("hangup: %q", got)
	}
	if got := e.tag("acme", "ivr", "CallID", "A"); got != "v2" {
		t.Fatalf("after hangup: %q", got)
	}
	// Many calls' pins, then a script's own session writes: the tenant's
	// session quota is not charged for pins (they are counted apart).
	for i := range 200 {
		e.tag("acme", "ivr", "CallID", "many-"+itoa(i))
	}
	use, err := sess.Usage(bg, "acme")
	if err != nil || use != 0 {
		t.Fatalf("pins charged to the tenant's sessions: %d %v", use, err)
	}
}
