package testkit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"sync"
)

// Logs records JSON log lines: it is an io.Writer, and Logger is a
// debug-level slog.Logger writing to it. It is safe for concurrent use; the
// zero value is ready.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
	log *slog.Logger
}

// NewLogs returns an empty recorder.
func NewLogs() *Logs { return &Logs{} }

// Write appends p, which should be whole JSON lines.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// Logger is a logger writing JSON lines to l at every level from debug up.
func (l *Logs) Logger() *slog.Logger {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.log == nil {
		l.log = slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return l.log
}

// Records returns every record whose msg is msg, parsed, in the order they
// were written; msg "" returns every record. Lines that are not JSON
// objects are skipped.
func (l *Logs) Records(msg string) []map[string]any {
	var out []map[string]any
	for _, line := range l.Lines() {
		var rec map[string]any
		if json.Unmarshal(line, &rec) == nil && (msg == "" || rec["msg"] == msg) {
			out = append(out, rec)
		}
	}
	return out
}

// Lines returns a copy of every line written so far, without its newline.
func (l *Logs) Lines() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(l.buf.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, append([]byte(nil), sc.Bytes()...))
	}
	return out
}

// RunLines returns a copy of the lines of tenant's runs: those with a
// top-level tenant of that name and a call_id, as the lines a script logs
// (and the server's "script failed") carry; lines about the tenant's files,
// such as compiles, have no call_id.
func (l *Logs) RunLines(tenant string) [][]byte {
	var out [][]byte
	for _, line := range l.Lines() {
		var rec map[string]any
		if json.Unmarshal(line, &rec) != nil {
			continue
		}
		if _, run := rec["call_id"]; run && rec["tenant"] == tenant {
			out = append(out, line)
		}
	}
	return out
}

// String returns everything written so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Len is how many bytes were written so far.
func (l *Logs) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Len()
}

// Reset forgets everything written so far.
func (l *Logs) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Reset()
}
