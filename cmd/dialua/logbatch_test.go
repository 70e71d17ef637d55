package main

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is stderr as a test sees it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Before serving, lines go straight out; then info lines gather until a
// warning, which goes out at once after them, or until the interval passes
// or the log is closed.
func TestLogBatch(t *testing.T) {
	out := &lockedBuffer{}
	b := newLogBatch(out)
	b.every = time.Hour // flushed only by a warning, a full batch or Close
	log := slog.New(flushOnWarn{slog.NewTextHandler(b, nil), b}).With("component", "test")
	log.Info("starting")
	if !strings.Contains(out.String(), "msg=starting") {
		t.Fatalf("a line before batch() was held back: %q", out.String())
	}
	b.batch()
	log.Info("request one")
	log.Info("request two")
	if s := out.String(); strings.Contains(s, "request one") {
		t.Fatalf("an info line was written at once while batching: %q", s)
	}
	log.Warn("script failed")
	s := out.String()
	one, two, warn := strings.Index(s, "request one"), strings.Index(s, "request two"), strings.Index(s, "script failed")
	if one < 0 || two < one || warn < two || !strings.Contains(s, "component=test") {
		t.Fatalf("a warning did not write the batch before it, in order: %q", s)
	}
	log.Info("last")
	b.Close()
	if !strings.Contains(out.String(), "msg=last") {
		t.Fatalf("Close left a line behind: %q", out.String())
	}
	log.Info("after close")
	if !strings.Contains(out.String(), "after close") {
		t.Fatal("a line after Close was held back")
	}
}

// A full batch is written without waiting, and the interval writes what
// is left.
func TestLogBatchSizeAndInterval(t *testing.T) {
	out := &lockedBuffer{}
	b := newLogBatch(out)
	b.every = 50 * time.Millisecond
	b.batch()
	line := strings.Repeat("x", 1000) + "\n"
	for range logBatchBytes/len(line) + 1 {
		b.Write([]byte(line))
	}
	if n := len(out.String()); n == 0 || n > logBatchBytes {
		t.Fatalf("%d bytes written after more than a batch's worth, want 1 to %d", n, logBatchBytes)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(out.String()) < (logBatchBytes/len(line)+1)*len(line) {
		if time.Now().After(deadline) {
			t.Fatalf("the interval did not write the rest: %d bytes", len(out.String()))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
