package engine

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// StopReason says what ended a run before it finished by itself.
type StopReason uint8

const (
	StopNone       StopReason = iota // the run was not stopped
	StopDeadline                     // it ran past its deadline
	StopCancel                       // the caller's context was cancelled
	StopMemory                       // the heap passed its limit while the run held much of it
	StopAllocation                   // the run held more than its memory limit
)

var stopNames = [...]string{"none", "deadline", "cancel", "memory", "allocation"}

func (r StopReason) String() string {
	if int(r) < len(stopNames) {
		return stopNames[r]
	}
	return "unknown"
}

// runDeadline is a context.Context that a VM reuses for every run: the usual
// context.WithTimeout costs several allocations per request, for a value that
// lives a few microseconds. Its values are those of the context the caller
// passed to Engine.Run; the caller's cancellation is forwarded to it (see
// Run).
type runDeadline struct {
	mu       sync.Mutex
	done     atomic.Pointer[chan struct{}] // replaced by stop after a fired run
	active   bool                          // between start and stop: fire has effect only then
	fired    bool
	why      StopReason // what fired it
	deadline time.Time
	parent   context.Context // the caller's, for Value; set by start
	timer    *time.Timer

	// Contexts derived from this one (context.WithTimeout(run.Ctx, ...) in
	// the http module and the session stores) register here through
	// AfterFunc instead of each starting a goroutine that waits on Done:
	// such a goroutine could see a run's closed channel after stop had
	// made the deadline ready for the next run, find Err nil, and make the
	// context package panic. Their callbacks run inside fire, and stop
	// waits until fire is through with them.
	afters  []*afterFn
	firing  int
	settled sync.Cond
}

type afterFn struct{ f func() }

func newRunDeadline() *runDeadline {
	d := &runDeadline{}
	d.settled.L = &d.mu
	ch := make(chan struct{})
	d.done.Store(&ch)
	d.timer = time.AfterFunc(time.Hour, func() { d.fire(StopDeadline) })
	d.timer.Stop()
	return d
}

// fire ends the current run's context; it reports whether a run was there
// to end. The timer calls it at the deadline; the memory watchdog and a
// caller's cancellation call it early.
func (d *runDeadline) fire(why StopReason) bool {
	d.mu.Lock()
	if !d.active || d.fired {
		d.mu.Unlock()
		return false
	}
	d.fired = true
	d.why = why
	close(*d.done.Load())
	afters := d.afters
	d.afters = nil
	d.firing++
	d.mu.Unlock()
	for _, a := range afters {
		a.f()
	}
	d.mu.Lock()
	d.firing--
	d.settled.Broadcast()
	d.mu.Unlock()
	return true
}

// AfterFunc arranges for f to run when the current run's context ends
// (context.AfterFunc semantics); the context package uses it for contexts
// derived from this one.
func (d *runDeadline) AfterFunc(f func()) (stop func() bool) {
	d.mu.Lock()
	if d.fired || !d.active {
		d.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	a := &afterFn{f: f}
	d.afters = append(d.afters, a)
	d.mu.Unlock()
	return func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		for i, x := range d.afters {
			if x == a {
				d.afters = append(d.afters[:i], d.afters[i+1:]...)
				return true
			}
		}
		return false
	}
}

// start arms the deadline for a run whose caller passed parent.
func (d *runDeadline) start(parent context.Context, deadline time.Time) {
	d.mu.Lock()
	d.active = true
	d.deadline = deadline
	d.parent = parent
	d.mu.Unlock()
	d.timer.Reset(time.Until(deadline))
}

// stop disarms it after the run, leaves it ready for the next one, and
// says what ended the run early (StopNone if nothing did). A timer that fires after
// this finds the deadline inactive and does nothing.
func (d *runDeadline) stop() (why StopReason) {
	d.timer.Stop()
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.firing > 0 {
		d.settled.Wait()
	}
	d.active = false
	d.afters = nil
	d.parent = nil
	if d.fired {
		why = d.why
		d.fired = false
		ch := make(chan struct{})
		d.done.Store(&ch)
	}
	return why
}

func (d *runDeadline) Deadline() (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.deadline, true
}

// Done is read once per Lua instruction, so it takes no lock; contexts
// derived from this one may read it from other goroutines after the run.
func (d *runDeadline) Done() <-chan struct{} { return *d.done.Load() }

// Value reads the caller's context: an embedder's values reach modules
// through the run's context.
func (d *runDeadline) Value(key any) any {
	d.mu.Lock()
	p := d.parent
	d.mu.Unlock()
	if p != nil {
		return p.Value(key)
	}
	return nil
}

func (d *runDeadline) Err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	// Between runs the context counts as ended: nothing but a stale
	// derived context asks then, and it must not see nil.
	if d.fired || !d.active {
		return context.DeadlineExceeded
	}
	return nil
}

// tickEvery is how many Lua instructions run between two scheduler checks
// of a run: a few tens of microseconds.
const tickEvery = 4096

// luaCtx is the context the Lua state itself sees. gopher-lua calls Done
// once per instruction; after tickEvery of them (or the equivalent in bytes
// built by library functions, see Work), the run checks in with the
// scheduler (charging its CPU time, yielding its token to a tenant with
// less use, measuring its memory) and lets other goroutines on its thread
// run. Only the VM's own goroutine may call it: modules get the plain
// runDeadline.
type luaCtx struct {
	*runDeadline
	left  int // instructions until the next tick
	slice *slice
}

func (c *luaCtx) Done() <-chan struct{} {
	if c.left--; c.left <= 0 {
		c.left = tickEvery
		c.slice.tick()
	}
	return c.runDeadline.Done()
}

// bytesPerInstruction is what building a string's bytes counts as in
// instructions, for when the next tick comes: about what an instruction
// costs in time.
const bytesPerInstruction = 128

// Work counts n bytes built by a library function (sandbox.Worker).
func (c *luaCtx) Work(n int) { c.left -= n / bytesPerInstruction }
