package engine

import (
	"math"
	"runtime/metrics"
	"time"
)

// Fair queueing orders the runs that wait, but when runs are short (a flood
// of cheap requests) or the CPU is lost between them (a loop that holds a
// token while other goroutines wait for a thread), nobody waits in our
// lines: the contention is in Go's own run queue and in the HTTP work
// around the runs. The governor watches that run queue. While it is
// contended and several tenants are active, a tenant using more than twice
// its fair share of the CPU is held to half its share (a pace on its runs'
// CPU time, each request counted with an estimate of the server's work
// around it) until it falls back under its share. Without contention
// nobody is held back: spare CPU goes to whoever wants it.

// governEvery is how often the run queue is sampled; governWindow samples
// make one decision.
const (
	governEvery  = time.Millisecond
	governWindow = 20
	governIdle   = 25 * time.Millisecond
)

// contendedRunnable is the mean number of runnable goroutines (waiting for a
// thread) per GOMAXPROCS from which the CPU counts as contended.
const contendedRunnable = 0.5

// activeWindow is how recently a tenant must have run to count as active.
const activeWindow = 200 * time.Millisecond

// requestCost is what a run is charged, beyond its own CPU time, for the
// server's work around it (reading, parsing and writing the request).
const requestCost = 30 * time.Microsecond

// failureCost is charged for a failed run beyond its CPU time: logging the
// failure and throwing its VM away.
const failureCost = 150 * time.Microsecond

// throttleBurst is how far ahead of its pace a held-back tenant may run.
const throttleBurst = time.Millisecond

// ln2 turns a decaying sum into a rate: a steady use of r cores sums to
// r * usageHalfLife / ln2.
const ln2 = math.Ln2

func (sc *sched) govern() {
	sample := []metrics.Sample{{Name: "/sched/goroutines/runnable:goroutines"}}
	t := time.NewTicker(governEvery)
	defer t.Stop()
	var sum float64
	n := 0
	for {
		select {
		case <-sc.quit:
			return
		case <-t.C:
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			sum += float64(sample[0].Value.Uint64())
		}
		if n++; n < governWindow {
			continue
		}
		contended := sum/float64(n) >= contendedRunnable*float64(sc.cores)
		sum, n = 0, 0
		// An idle server is looked at rarely: a thousand wake-ups a second
		// are worth it only while there are runs to govern.
		if sc.decide(contended) {
			t.Reset(governEvery)
		} else {
			t.Reset(governIdle)
		}
	}
}

// lightUse is the CPU use (in cores) below which a tenant is left out of
// the comparison: a tenant that wants little is not a measure of what the
// others may have.
const lightUse = 0.02

// heldShare is what a held-back tenant may use, as a share of what the
// least-using free tenant uses. Under 1, so that the tenant whose demand made
// the CPU contended ends up with less than the ones it crowded: a calm
// tenant sharing the server with a flood keeps more than half of it.
const heldShare = 0.75

// minPace is the least a held-back tenant gets, in cores.
const minPace = 0.05

// decide marks the tenants to hold back for the next window: while the CPU
// is contended, a tenant using more than 1.5 times what the least-using
// tenant that is not held back uses (per weight) is paced to heldShare of
// that tenant's use. A held-back tenant is let go when it no longer waits
// for its pace, or the contention ends.
//
// Only tenants that want CPU now are measures: their use over the last few
// hundred milliseconds (recentCores) is at least lightUse. The decayed use
// remembers a second or more, so without this a tenant whose loops had just
// turned into slow network calls (using nearly nothing, by its own choice)
// set the measure with the memory of its loops, and held back the calm
// tenant it had been crowding, for seconds.
// It reports whether any tenant is active.
func (sc *sched) decide(contended bool) (busy bool) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	now := sc.now()
	least, wanting := math.Inf(1), 0
	for _, sh := range sc.tenants {
		if !sh.active(now) {
			continue
		}
		// A held-back tenant uses what it is let use: the measure is the
		// least of the tenants that are free to take more.
		if u := sh.decayed(now) * ln2 / float64(usageHalfLife); u >= lightUse && sh.recentCores(now) >= lightUse {
			wanting++
			if !sh.heavy.Load() {
				least = min(least, u/sh.weight)
			}
		}
	}
	for _, sh := range sc.tenants {
		use := sh.decayed(now) * ln2 / float64(usageHalfLife)
		if !contended || wanting < 2 || math.IsInf(least, 1) || !sh.active(now) {
			sh.heavy.Store(false)
		} else if per := use / sh.weight; !sh.heavy.Load() && per > 1.5*least {
			sh.vt = now
			sh.pace = max(minPace, heldShare*least*sh.weight)
			sh.heavy.Store(true)
		} else if sh.heavy.Load() {
			sh.pace = max(minPace, heldShare*least*sh.weight)
			if sh.paced == 0 && per < 1.2*least {
				sh.heavy.Store(false)
			}
		}
		sh.paced = 0
	}
	return len(sc.tenants) > 0
}

func (sh *share) active(now int64) bool {
	return sh.running > 0 || sh.held > 0 || now-sh.lastRun < int64(activeWindow)
}
