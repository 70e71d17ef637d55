package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// The server's log is written in batches once it serves: with the access
// log on, a write to stderr per request was a twentieth of the server's CPU
// under load (a system call each, against a few for the request itself).
// Lines wait at most logFlushEvery, or until logBatchBytes have gathered; a
// record at warn or above is written at once with everything before it, so
// failures are never late and lines keep their order. What SIGKILL or a
// crash of the process loses is the last logFlushEvery of info lines;
// every exit of `dialua serve` writes what is gathered.
const (
	logFlushEvery = 100 * time.Millisecond
	logBatchBytes = 32 << 10
)

// logBatch is an io.Writer that passes writes straight through until batch
// is called, and gathers them from then on.
type logBatch struct {
	mu       sync.Mutex
	out      io.Writer
	batching bool
	buf      []byte
	timer    *time.Timer   // pending flush, nil when the buffer is empty
	every    time.Duration // logFlushEvery
}

func newLogBatch(out io.Writer) *logBatch { return &logBatch{out: out, every: logFlushEvery} }

// Write implements io.Writer. slog handlers write one whole record per
// call, so a record is never split between two flushes.
func (b *logBatch) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.batching {
		return b.out.Write(p)
	}
	if len(b.buf)+len(p) > logBatchBytes {
		b.flushLocked()
		if len(p) > logBatchBytes {
			return b.out.Write(p)
		}
	}
	b.buf = append(b.buf, p...)
	if b.timer == nil {
		b.timer = time.AfterFunc(b.every, b.Flush)
	}
	return len(p), nil
}

// batch starts gathering writes.
func (b *logBatch) batch() {
	b.mu.Lock()
	b.batching = true
	b.mu.Unlock()
}

// Flush writes what has gathered.
func (b *logBatch) Flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
}

func (b *logBatch) flushLocked() {
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	if len(b.buf) == 0 {
		return
	}
	// A failed write of the log has nowhere to be reported; the lines are
	// dropped rather than kept to grow without bound.
	b.out.Write(b.buf)
	b.buf = b.buf[:0]
}

// Close writes what has gathered and passes later writes straight
// through.
func (b *logBatch) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
	b.batching = false
}

// flushOnWarn is a handler that writes the batch out after every record at
// warn or above.
type flushOnWarn struct {
	slog.Handler
	b *logBatch
}

func (h flushOnWarn) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		h.b.Flush()
	}
	return err
}

func (h flushOnWarn) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushOnWarn{h.Handler.WithAttrs(attrs), h.b}
}

func (h flushOnWarn) WithGroup(name string) slog.Handler {
	return flushOnWarn{h.Handler.WithGroup(name), h.b}
}
