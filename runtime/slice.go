package runtime

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
}

// begin takes the first token of a run; false means the deadline passed
// while waiting for it.
func (s *slice) begin(sc *sched, sh *share, stop <-chan struct{}) bool {
	s.sc, s.sh, s.stop = sc, sh, stop
	return s.take()
}

func (s *slice) take() bool {
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

// end gives the token back after the run and forgets the run.
func (s *slice) end() {
	s.give()
	s.sh, s.stop = nil, nil
}

// tick runs every few thousand instructions of a running script.
func (s *slice) tick() {
	if !s.held {
		return
	}
	// Let the goroutines waiting on this thread (other requests' network
	// work) run: Go would otherwise leave a busy loop on the CPU for up to
	// 10ms before preempting it.
	goruntime.Gosched()
	if s.sc.cpuWaiting.Load() == 0 {
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

// wait gives the token up for a network wait (luaapi.Run.Wait).
func (s *slice) wait() (resume func()) {
	if !s.held {
		return func() {}
	}
	s.give()
	return func() { s.take() }
}
