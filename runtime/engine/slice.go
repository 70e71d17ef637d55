package engine

import (
	goruntime "runtime"
	"time"
)

// slice is one run's hold on a CPU token: taken before the script starts,
// given back while it waits on the network and when it ends, and yielded
// to a waiting tenant with less use when the run has held it for a while.
// It belongs to the VM's goroutine.
type slice struct {
	sc    *sched
	sh    *share
	stop  <-chan struct{} // the run's deadline
	held  bool
	since time.Time // when the token was taken
	last  time.Time // up to when its time was charged

	// Memory checks (see livesize.go): the run measures what it reaches
	// now and then, and at once when the watchdog reports the heap over
	// its limit.
	over      func(bar int64) bool // whether the run reaches more than bar bytes
	fire      func(StopReason)     // stops the run
	nextCheck time.Time            // of the next periodic measurement
	pressure  int64                // the watchdog's pressure count this run last answered
	maxLive   int64                // stop the run past this; 0: no limit

	resume, noop func() // what wait returns, made once

	ticks int // check-ins so far, for tests
}

// paceStep is the longest a paced run waits before it looks again.
const paceStep = 10 * time.Millisecond

// begin takes the first token of a run; false means the deadline passed
// while waiting for it.
func (s *slice) begin(sc *sched, sh *share, stop <-chan struct{}) bool {
	s.sc, s.sh, s.stop = sc, sh, stop
	s.nextCheck = time.Now().Add(checkFirst)
	s.pressure = sc.pressure.Load()
	return s.take()
}

func (s *slice) take() bool {
	// Held to its pace by the governor: wait without a token, in short
	// steps, so that a paced run holding memory still answers the memory
	// watchdog.
	for d := s.sc.ahead(s.sh); d > 0; d = s.sc.ahead(s.sh) {
		t := time.NewTimer(min(d, paceStep))
		select {
		case <-t.C:
		case <-s.stop:
			t.Stop()
			return false
		}
		if s.over != nil {
			s.checkMemory()
		}
	}
	if !s.sc.cpuTake(s.sh, s.stop) {
		return false
	}
	s.held = true
	s.since = time.Now()
	s.last = s.since
	return true
}

// give returns the token, if the run holds one, charging its time.
func (s *slice) give() {
	if !s.held {
		return
	}
	s.held = false
	s.sc.cpuGive(s.sh, time.Since(s.last))
}

// end forgets the run and says whether it still holds its token and for
// how long since its time was last charged; the scheduler's finish takes
// both back.
func (s *slice) end() (held bool, used time.Duration) {
	if s.held {
		used = time.Since(s.last)
	}
	held = s.held
	s.held = false
	s.sh, s.stop = nil, nil
	return held, used
}

// tick runs every few thousand instructions of a running script.
func (s *slice) tick() {
	s.ticks++
	if !s.held {
		return
	}
	s.checkMemory()
	// Let the goroutines waiting on this thread (other requests' network
	// work) run: Go would otherwise leave a busy loop on the CPU for up to
	// 10ms before preempting it.
	goruntime.Gosched()
	if s.sc.cpuWaiting.Load() == 0 && !s.sh.heavy.Load() {
		return
	}
	now := time.Now()
	used := now.Sub(s.last)
	s.last = now
	if s.sc.tick(s.sh, used, now.Sub(s.since)) {
		s.held = false
		s.sc.cpuGive(s.sh, 0)
		// If the deadline passes while waiting, the run holds no token and
		// its next instruction raises the timeout.
		s.take()
	}
}

// wait gives the token up for a network wait (luaapi.Run.Wait). The
// functions it returns are made once per VM, so a wait allocates nothing.
func (s *slice) wait() (resume func()) {
	if s.resume == nil {
		s.resume = func() { s.take() }
		s.noop = func() {}
	}
	if !s.held {
		return s.noop
	}
	s.give()
	return s.resume
}

// checkFirst is how far into a run its first periodic measurement comes
// (most runs are over long before).
const checkFirst = time.Millisecond

// checkCost is the most of a run's time its measurements may take: after a
// walk that took d, the next comes checkCost-inverse times d later. Memory
// grows by at most what the run can build in that time, a small multiple
// of what the walk looked at, so a run ends at most a few times over its
// limit, and usually at it.
const checkCost = 8

// checkMemory stops the run when it reaches more than its limit, checked
// now and then at a bounded share of the run's time, and when it holds more
// than guiltyFloor while the heap is over the server's limit.
func (s *slice) checkMemory() {
	if p := s.sc.pressure.Load(); p != s.pressure {
		s.pressure = p
		if s.over(guiltyFloor) {
			s.fire(StopMemory)
			return
		}
	}
	if s.maxLive <= 0 {
		return
	}
	now := time.Now()
	if now.Before(s.nextCheck) {
		return
	}
	if s.over(s.maxLive) {
		s.fire(StopAllocation)
		return
	}
	took := time.Since(now)
	s.nextCheck = time.Now().Add(max(checkFirst, checkCost*took))
}
