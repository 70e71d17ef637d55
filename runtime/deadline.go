package runtime

import (
	"context"
	goruntime "runtime"
	"sync"
	"time"
)

// runDeadline is a context.Context that a VM reuses for every run: the usual
// context.WithTimeout costs several allocations per request, for a value that
// lives a few microseconds. It carries no values and has no parent; runs
// whose caller passes a cancellable context use context.WithTimeout instead.
type runDeadline struct {
	mu       sync.Mutex
	done     chan struct{}
	fired    bool
	deadline time.Time
	timer    *time.Timer
}

func newRunDeadline() *runDeadline {
	d := &runDeadline{done: make(chan struct{})}
	d.timer = time.AfterFunc(time.Hour, d.fire)
	d.timer.Stop()
	return d
}

func (d *runDeadline) fire() {
	d.mu.Lock()
	if !d.fired {
		d.fired = true
		close(d.done)
	}
	d.mu.Unlock()
}

// start arms the deadline for a run.
func (d *runDeadline) start(deadline time.Time) {
	d.deadline = deadline
	d.timer.Reset(time.Until(deadline))
}

// stop disarms it after the run and leaves it ready for the next one.
func (d *runDeadline) stop() {
	if d.timer.Stop() {
		return
	}
	// The timer expired: its function has started (or run) in its own
	// goroutine. Wait for it, then start the next run with an open channel.
	for {
		d.mu.Lock()
		if d.fired {
			d.fired = false
			d.done = make(chan struct{})
			d.mu.Unlock()
			return
		}
		d.mu.Unlock()
		goruntime.Gosched()
	}
}

func (d *runDeadline) Deadline() (time.Time, bool) { return d.deadline, true }
func (d *runDeadline) Done() <-chan struct{}       { return d.done }
func (d *runDeadline) Value(any) any               { return nil }

func (d *runDeadline) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fired {
		return context.DeadlineExceeded
	}
	return nil
}
