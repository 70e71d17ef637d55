package main

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

// server is one `dialua serve` child process. Its stderr goes to a tailWriter
// rather than a file: the attacks make the server log thousands of failures
// per second with tracebacks, and the harness must neither fill the shared
// disk nor spare the server the cost of writing them.
type server struct {
	cmd  *exec.Cmd
	addr string
	log  *tailWriter
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, valid after done

	logFile *os.File // -server-log, or nil
}

// buildServer compiles ./cmd/dialua from src (a checkout of any commit, e.g.
// a git worktree) into dir, for when no -bin is given.
func buildServer(ctx context.Context, src, dir string) (string, error) {
	out := filepath.Join(dir, "dialua")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/dialua")
	cmd.Dir = src
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/dialua in %s: %w", src, err)
	}
	return out, nil
}

// freePort asks the kernel for an unused loopback port. Another process could
// take it before the server binds it; start-up then fails loudly, which is
// acceptable for a benchmark.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startServer runs `bin serve --listen 127.0.0.1:PORT --scripts DIR --dev`
// plus extra, and waits (up to 15 s) for /healthz to answer. With logPath,
// the server's whole output is also written there (for digging into a
// failure; it can grow by megabytes per second under the bombs).
func startServer(bin, scripts string, extra []string, logPath string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &server{addr: fmt.Sprintf("127.0.0.1:%d", port), log: newTailWriter(64 << 10), done: make(chan struct{})}
	args := []string{"serve", "--listen", s.addr, "--scripts", scripts, "--dev", "--log-level", "warn"}
	args = append(args, extra...)
	s.cmd = exec.Command(bin, args...)
	var out io.Writer = s.log
	if logPath != "" {
		f, err := os.Create(logPath)
		if err != nil {
			return nil, err
		}
		s.logFile = f
		out = io.MultiWriter(s.log, f)
	}
	s.cmd.Stdout, s.cmd.Stderr = out, out
	setDeathSignal(s.cmd) // a harness killed with -9 must not leave a server spinning on a shared machine
	if err := s.cmd.Start(); err != nil {
		s.closeLog()
		return nil, err
	}
	go func() {
		s.err = s.cmd.Wait()
		s.closeLog()
		close(s.done)
	}()
	if err := s.waitHealthy(15 * time.Second); err != nil {
		s.stop()
		return nil, fmt.Errorf("%w\nserver output:\n%s", err, s.log.tail())
	}
	return s, nil
}

func (s *server) waitHealthy(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	url := "http://" + s.addr + "/healthz"
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("server exited during start-up: %v", s.err)
		default:
		}
		status, body, err := fasthttp.GetTimeout(nil, url, time.Second)
		if err == nil && status == 200 && strings.TrimSpace(string(body)) == "ok" {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("/healthz did not answer ok within " + limit.String())
}

// alive reports whether the process is still running; a phase in which the
// server died is reported as such rather than as a pile of connection errors.
func (s *server) alive() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

func (s *server) closeLog() {
	if s.logFile != nil {
		_ = s.logFile.Close()
	}
}

// stop sends SIGTERM (the server drains requests in flight), waits up to 5 s,
// then kills it. Safe to call more than once.
func (s *server) stop() {
	if s == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
		return
	case <-time.After(5 * time.Second):
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// rssKiB reads VmRSS from /proc/PID/status (Linux); 0 when unavailable.
func (s *server) rssKiB() int64 {
	if s.cmd.Process == nil {
		return 0
	}
	return procStatusKiB(s.cmd.Process.Pid, "VmRSS:")
}

// tailWriter counts what the server writes and keeps only the last max bytes,
// to show when something goes wrong.
type tailWriter struct {
	mu    sync.Mutex
	max   int
	buf   []byte
	bytes int64
	lines int64
}

func newTailWriter(max int) *tailWriter { return &tailWriter{max: max} }

func (w *tailWriter) Write(p []byte) (int, error) {
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

// counts returns the lines and bytes written so far.
func (w *tailWriter) counts() (lines, bytes int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lines, w.bytes
}

func (w *tailWriter) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}
