// Package harness holds what the load harnesses under benchmarks/ share:
// running a dialua server as a child process, a slow loopback backend, and
// reading a process's figures from /proc.
package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// Server is one `dialua serve` child process. Its stderr goes to a tailWriter
// rather than a file: the attacks make the server log thousands of failures
// per second with tracebacks, and the harness must neither fill the shared
// disk nor spare the server the cost of writing them.
type Server struct {
	cmd  *exec.Cmd
	Addr string
	Log  *TailWriter
	Done chan struct{} // closed when the process has exited
	Err  error         // its exit status, valid after Done

	logFile *os.File // -server-log, or nil
}

// Build compiles ./cmd/dialua from src (a checkout of any commit, e.g.
// a git worktree) into dir, for when no -bin is given.
func Build(ctx context.Context, src, dir string) (string, error) {
	out := filepath.Join(dir, "dialua")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/dialua")
	cmd.Dir = src
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/dialua in %s: %w", src, err)
	}
	return out, nil
}

// FreePort asks the kernel for an unused loopback port. Another process could
// take it before the server binds it; start-up then fails loudly, which is
// acceptable for a benchmark.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Start runs `bin serve --listen 127.0.0.1:PORT --scripts DIR --dev`
// plus extra, and waits (up to 15 s) for /healthz to answer. With logPath,
// the server's whole output is also written there (for digging into a
// failure; it can grow by megabytes per second under the bombs).
func Start(bin, scripts string, extra []string, logPath string) (*Server, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), Log: newTailWriter(64 << 10), Done: make(chan struct{})}
	args := []string{"serve", "--listen", s.Addr, "--scripts", scripts, "--dev", "--log-level", "warn"}
	args = append(args, extra...)
	s.cmd = exec.Command(bin, args...)
	var out io.Writer = s.Log
	if logPath != "" {
		f, err := os.Create(logPath)
		if err != nil {
			return nil, err
		}
		s.logFile = f
		out = io.MultiWriter(s.Log, f)
	}
	s.cmd.Stdout, s.cmd.Stderr = out, out
	SetDeathSignal(s.cmd) // a harness killed with -9 must not leave a server spinning on a shared machine
	if err := s.cmd.Start(); err != nil {
		s.closeLog()
		return nil, err
	}
	go func() {
		s.Err = s.cmd.Wait()
		s.closeLog()
		close(s.Done)
	}()
	if err := s.waitHealthy(15 * time.Second); err != nil {
		s.Stop()
		return nil, fmt.Errorf("%w\nserver output:\n%s", err, s.Log.Tail())
	}
	return s, nil
}

func (s *Server) waitHealthy(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	url := "http://" + s.Addr + "/healthz"
	for time.Now().Before(deadline) {
		select {
		case <-s.Done:
			return fmt.Errorf("server exited during start-up: %v", s.Err)
		default:
		}
		status, body, err := fasthttp.GetTimeout(nil, url, time.Second)
		if err == nil && status == 200 && strings.TrimSpace(string(body)) == "ok" {
			return nil
		}
		time.Sleep(5 * time.Millisecond) // fine enough to time start-up (benchmarks/scale)
	}
	return errors.New("/healthz did not answer ok within " + limit.String())
}

// Alive reports whether the process is still running; a phase in which the
// server died is reported as such rather than as a pile of connection errors.
func (s *Server) Alive() bool {
	select {
	case <-s.Done:
		return false
	default:
		return true
	}
}

func (s *Server) closeLog() {
	if s.logFile != nil {
		_ = s.logFile.Close()
	}
}

// Stop sends SIGTERM (the server drains requests in flight), waits up to 5 s,
// then kills it. Safe to call more than once.
func (s *Server) Stop() {
	if s == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.Done:
		return
	case <-time.After(5 * time.Second):
	}
	_ = s.cmd.Process.Kill()
	<-s.Done
}

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// RSSKiB reads the server's VmRSS; 0 when unavailable.
func (s *Server) RSSKiB() int64 {
	if s.cmd.Process == nil {
		return 0
	}
	return ProcStatusKiB(s.cmd.Process.Pid, "VmRSS:")
}

// TailWriter counts what the server writes and keeps only the last max bytes,
// to show when something goes wrong.
type TailWriter struct {
	mu    sync.Mutex
	max   int
	buf   []byte
	bytes int64
	lines int64
}

func newTailWriter(max int) *TailWriter { return &TailWriter{max: max} }

func (w *TailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.bytes += int64(len(p))
	for _, c := range p {
		if c == '\n' {
			w.lines++
		}
	}
	w.buf = append(w.buf, p...)
	if len(w.buf) > w.max {
		w.buf = append(w.buf[:0], w.buf[len(w.buf)-w.max:]...)
	}
	return len(p), nil
}

// Counts returns the lines and bytes written so far.
func (w *TailWriter) Counts() (lines, bytes int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lines, w.bytes
}

// Tail is the last output kept.
func (w *TailWriter) Tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}
