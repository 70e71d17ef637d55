// Package redistest runs a real redis-server for a test: on a free loopback
// port, owned by that test, killed when it ends, with controls to take it
// down, bring it back on the same port, and hang it (SIGSTOP: it keeps
// accepting connections and answers nothing).
//
// Without a redis-server binary on PATH the test is skipped, saying so;
// with the CI environment variable set it fails instead, because .ci/run
// installs redis-server and a skip there would hide the Redis tests.
//
// It imports nothing of dialua, so runtime/session's internal tests can use
// it (see package testkit).
package redistest

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is one redis-server process, started by Start.
type Server struct {
	t    testing.TB
	port string
	cmd  *exec.Cmd
}

// Start runs redis-server on a free 127.0.0.1 port (no persistence,
// protected mode) and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server not installed; .ci/run should have installed it")
		}
		t.Skip("redis-server not installed: this test needs a real Redis (CI installs it via .ci/run; locally, install the redis-server package)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:")
	ln.Close()
	s := &Server{t: t, port: port}
	s.Up()
	t.Cleanup(s.Down)
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + s.port }

// URL is the server's database 0 as a redis:// URL.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Up starts the server (again, after Down) and waits until it accepts
// connections; it fails the test if it does not within two seconds.
func (s *Server) Up() {
	s.t.Helper()
	if s.cmd != nil {
		s.t.Fatal("redistest: Up while the server runs")
	}
	s.cmd = exec.Command("redis-server", "--port", s.port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--protected-mode", "yes")
	if err := s.cmd.Start(); err != nil {
		s.cmd = nil
		s.t.Fatal(err)
	}
	for i := 0; i < 200; i++ {
		if c, err := net.DialTimeout("tcp", s.Addr(), 50*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.t.Fatal("redis-server did not start")
}

// Down kills the server (a hung one too) and waits for it to exit. It does
// nothing when the server is already down.
func (s *Server) Down() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGCONT) // a stopped process would not die cleanly
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Hang stops the server's process until resume is called (or the test
// ends): connections are still accepted, nothing is answered.
func (s *Server) Hang() (resume func()) {
	s.t.Helper()
	if s.cmd == nil {
		s.t.Fatal("redistest: Hang while the server is down")
	}
	cmd := s.cmd
	cmd.Process.Signal(syscall.SIGSTOP)
	var once sync.Once
	resume = func() {
		once.Do(func() {
			if s.cmd == cmd { // not since killed by Down
				cmd.Process.Signal(syscall.SIGCONT)
			}
		})
	}
	s.t.Cleanup(resume)
	return resume
}
