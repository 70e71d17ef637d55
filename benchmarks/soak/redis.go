package main

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dialua/dialua/benchmarks/internal/harness"
)

// redisServer is a throw-away redis-server on a loopback port: no
// persistence (a restart loses every session, as a crashed cache node would)
// and no config file, so nothing of it outlives the soak.
type redisServer struct {
	bin  string
	port int
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	up   bool
}

// findRedis returns redis-server's path, or "" when it is not installed.
func findRedis() string {
	p, err := exec.LookPath("redis-server")
	if err != nil {
		return ""
	}
	return p
}

func newRedis(bin string) (*redisServer, error) {
	port, err := harness.FreePort()
	if err != nil {
		return nil, err
	}
	return &redisServer{bin: bin, port: port}, nil
}

func (r *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *redisServer) isUp() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.up
}

// start runs redis-server on r.port and waits (up to 5 s) until it answers
// PING. The same port is reused on every restart so the dialua server's
// client reconnects to it by itself.
func (r *redisServer) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cmd := exec.Command(r.bin, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--protected-mode", "yes", "--loglevel", "warning")
	harness.SetDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	r.cmd, r.done = cmd, done
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if ping(r.port) {
			r.up = true
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("redis-server exited at start (port %d taken?)", r.port)
		case <-time.After(50 * time.Millisecond):
		}
	}
	_ = cmd.Process.Kill()
	<-done
	return fmt.Errorf("redis-server did not answer PING on port %d within 5s", r.port)
}

// kill stops redis-server with SIGKILL: a crash, not a clean shutdown, which
// is what a session store failing under a live call looks like.
func (r *redisServer) kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.up = false
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

// ping speaks just enough RESP to know redis-server is serving.
func ping(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}
