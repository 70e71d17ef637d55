package engine

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// The scheduler shares the engine between tenants. Two resources are
// rationed:
//
//   - VM slots: how many VMs exist at once (Options.VMs). A tenant may hold
//     at most its share (Options.TenantVMs, or its max_concurrent) at once, so
//     a tenant whose runs are slow (loops, a slow backend) ties up its own
//     share, never the pool. Requests over the share wait in line, up to
//     their deadline.
//   - CPU tokens: how many runs execute Lua at once (GOMAXPROCS). A run holds
//     a token while it runs Lua and gives it back while it waits on the
//     network, so a slow outbound call costs its tenant a VM but no CPU.
//
// Both lines are served by fair queueing: the next grant goes to the waiting
// tenant that has used the least CPU lately (an exponentially decaying sum,
// divided by the tenant's weight). A long run gives its token up every few
// milliseconds when a tenant with less use is waiting, so a tenant that
// burns its deadlines in loops only gets the CPU nobody else wants.

// usageHalfLife is how fast past CPU use is forgotten.
const usageHalfLife = time.Second

// recentHalfLife is the memory of the governor's measure of who still wants
// CPU (governor.go): short, so that a tenant whose runs stopped burning CPU
// (a loop attack turned into slow network calls, or an idle tenant) stops
// counting as a competitor within a few hundred milliseconds.
const recentHalfLife = 200 * time.Millisecond

// sliceMin is how long a run keeps its CPU token before it yields to a
// waiting tenant with less use; the check runs every few thousand Lua
// instructions.
const sliceMin = 2 * time.Millisecond

type sched struct {
	mu      sync.Mutex
	vmFree  int
	cpuFree int
	tenants map[string]*share
	vmLine  []*waiter
	cpuLine []*waiter
	seq     uint64
	// cpuWaiting mirrors len(cpuLine) so a running run can see without the
	// lock that nobody waits (the common case).
	cpuWaiting atomic.Int32
	// pressure counts the memory watchdog's reports that the heap is over
	// its limit; each running run answers a new one by measuring itself.
	pressure atomic.Int64
	epoch    time.Time
	cores    int
	quit     chan struct{}
}

// share is one tenant's standing with the scheduler.
type share struct {
	name    string
	weight  float64
	held    int     // VM slots held
	limit   int     // VM slots it may hold, as of its latest request
	queued  int     // waiters of this tenant in either line
	usage   float64 // CPU nanoseconds, decayed to stamp
	recent  float64 // the same, decayed with recentHalfLife: what it wants now
	stamp   int64   // nanoseconds since epoch of the last decay
	running int     // CPU tokens held
	lastRun int64   // when a run of it last ended

	// Pacing by the governor (governor.go): while heavy, the tenant's runs
	// may use pace cores in all; vt is the tenant's CPU clock at that pace,
	// and a run waits while it is ahead of now by more than throttleBurst.
	heavy atomic.Bool
	pace  float64
	vt    int64
	paced int // waits for the pace in the governor's current window
}

type waiter struct {
	sh      *share
	ready   chan struct{}
	granted bool
	seq     uint64
}

func newSched(vms, cpus int) *sched {
	sc := &sched{vmFree: vms, cpuFree: cpus, tenants: map[string]*share{}, epoch: time.Now(),
		cores: cpus, quit: make(chan struct{})}
	return sc
}

// close stops the governor.
func (sc *sched) close() {
	select {
	case <-sc.quit:
	default:
		close(sc.quit)
	}
}

func (sc *sched) now() int64 { return int64(time.Since(sc.epoch)) }

// decayed returns sh's usage as of now. Called with mu held.
func (sh *share) decayed(now int64) float64 {
	if dt := now - sh.stamp; dt > 0 {
		sh.usage *= math.Exp2(-float64(dt) / float64(usageHalfLife))
		sh.recent *= math.Exp2(-float64(dt) / float64(recentHalfLife))
		sh.stamp = now
	}
	return sh.usage
}

// recentCores is sh's use over the last few hundred milliseconds, in cores.
// Called with mu held.
func (sh *share) recentCores(now int64) float64 {
	sh.decayed(now)
	return sh.recent * ln2 / float64(recentHalfLife)
}

func (sh *share) priority(now int64) float64 { return sh.decayed(now) / sh.weight }

// get returns the tenant's share, made on first use. Called with mu held.
func (sc *sched) get(tenant string, weight float64) *share {
	sh := sc.tenants[tenant]
	if sh == nil {
		sh = &share{name: tenant, weight: 1}
		sc.tenants[tenant] = sh
	}
	if weight > 0 {
		sh.weight = weight
	}
	return sh
}

// forget drops an idle share whose use has faded, so the map holds only
// tenants with recent work. Called with mu held.
func (sc *sched) forget(sh *share, now int64) {
	if sh.held == 0 && sh.queued == 0 && sh.running == 0 && sh.decayed(now) < float64(time.Millisecond) {
		delete(sc.tenants, sh.name)
	}
}

// admit waits for a VM slot for tenant, which may hold at most limit at
// once. queueing false refuses at once when the tenant is at its limit (an
// operator's max_concurrent). It gives up at deadline (ErrBusy) or when stop
// closes.
func (sc *sched) admit(tenant string, weight float64, limit int, queueing bool, deadline time.Time, stop <-chan struct{}) (*share, error) {
	sc.mu.Lock()
	sh := sc.get(tenant, weight)
	sh.limit = limit
	if sh.held < limit && sc.vmFree > 0 {
		sh.held++
		sc.vmFree--
		sc.mu.Unlock()
		return sh, nil
	}
	if !queueing && sh.held >= limit {
		sc.forget(sh, sc.now())
		sc.mu.Unlock()
		return nil, ErrTenantBusy
	}
	w := sc.enqueue(&sc.vmLine, sh)
	sc.mu.Unlock()

	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-w.ready:
		return sh, nil
	case <-t.C:
	case <-stop:
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if w.granted {
		// Granted as the timer fired: keep it rather than lose the slot.
		return sh, nil
	}
	sc.unqueue(&sc.vmLine, w)
	atLimit := sh.held >= limit
	sc.forget(sh, sc.now())
	if atLimit {
		return nil, ErrTenantBusy
	}
	return nil, ErrBusy
}

// dispatchVM grants free slots to waiting tenants below their limit, least
// recent CPU use first. Called with mu held.
func (sc *sched) dispatchVM() {
	now := sc.now()
	for sc.vmFree > 0 {
		best := -1
		for i, w := range sc.vmLine {
			if w.sh.held >= w.sh.limit {
				continue
			}
			if best < 0 || better(w, sc.vmLine[best], now) {
				best = i
			}
		}
		if best < 0 {
			return
		}
		w := sc.vmLine[best]
		sc.vmLine = append(sc.vmLine[:best], sc.vmLine[best+1:]...)
		w.sh.queued--
		w.sh.held++
		sc.vmFree--
		w.granted = true
		w.ready <- struct{}{}
	}
}

// better orders waiters: less recent CPU use per weight first, then first
// come.
func better(a, b *waiter, now int64) bool {
	pa, pb := a.sh.priority(now), b.sh.priority(now)
	if pa != pb {
		return pa < pb
	}
	return a.seq < b.seq
}

func (sc *sched) enqueue(line *[]*waiter, sh *share) *waiter {
	sc.seq++
	w := &waiter{sh: sh, ready: make(chan struct{}, 1), seq: sc.seq}
	*line = append(*line, w)
	sh.queued++
	return w
}

func (sc *sched) unqueue(line *[]*waiter, w *waiter) {
	for i, x := range *line {
		if x == w {
			*line = append((*line)[:i], (*line)[i+1:]...)
			w.sh.queued--
			return
		}
	}
}

// cpuTake waits for a CPU token. It returns false when stop closed first
// (the run's deadline fired); the run then ends without running more Lua.
func (sc *sched) cpuTake(sh *share, stop <-chan struct{}) bool {
	sc.mu.Lock()
	if sc.cpuFree > 0 && len(sc.cpuLine) == 0 {
		sc.cpuFree--
		sh.running++
		sc.mu.Unlock()
		return true
	}
	w := sc.enqueue(&sc.cpuLine, sh)
	sc.cpuWaiting.Store(int32(len(sc.cpuLine)))
	sc.dispatchCPU()
	sc.mu.Unlock()
	select {
	case <-w.ready:
		return true
	case <-stop:
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if w.granted {
		return true
	}
	sc.unqueue(&sc.cpuLine, w)
	sc.cpuWaiting.Store(int32(len(sc.cpuLine)))
	return false
}

// cpuGive returns a CPU token and charges the time it was held.
func (sc *sched) cpuGive(sh *share, used time.Duration) {
	sc.mu.Lock()
	sc.charge(sh, used)
	sc.returnToken(sh)
	sc.mu.Unlock()
}

// returnToken frees a token and hands it on. Called with mu held.
func (sc *sched) returnToken(sh *share) {
	sh.running--
	sc.cpuFree++
	sc.dispatchCPU()
}

// charge adds CPU time to a tenant's use, and moves a paced tenant's clock.
// Called with mu held.
func (sc *sched) charge(sh *share, used time.Duration) { sc.chargeAt(sh, used, sc.now()) }

func (sc *sched) chargeAt(sh *share, used time.Duration, now int64) {
	sh.decayed(now)
	sh.usage += float64(used)
	sh.recent += float64(used)
	if sh.heavy.Load() && sh.pace > 0 {
		sh.vt = max(sh.vt, now) + int64(float64(used)/sh.pace)
	}
}

// finish ends a run in one step: it charges used plus requestCost (the
// server's work around the run), returns the token if the run still holds
// one, and gives back the VM slot.
func (sc *sched) finish(sh *share, held bool, used time.Duration) {
	sc.mu.Lock()
	now := sc.now()
	sc.chargeAt(sh, used+requestCost, now)
	sh.lastRun = now
	if held {
		sc.returnToken(sh)
	}
	sh.held--
	sc.vmFree++
	sc.dispatchVM()
	sc.forget(sh, now)
	sc.mu.Unlock()
}

// ahead is how long a paced tenant must wait before it may run again; 0
// when it is not held back.
func (sc *sched) ahead(sh *share) time.Duration {
	if !sh.heavy.Load() {
		return 0
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	d := time.Duration(sh.vt - sc.now() - int64(throttleBurst))
	if d <= 0 {
		return 0
	}
	sh.paced++
	return d
}

// dispatchCPU hands free tokens to the waiters with the least use. Called
// with mu held.
func (sc *sched) dispatchCPU() {
	now := sc.now()
	for sc.cpuFree > 0 && len(sc.cpuLine) > 0 {
		best := 0
		for i := 1; i < len(sc.cpuLine); i++ {
			if better(sc.cpuLine[i], sc.cpuLine[best], now) {
				best = i
			}
		}
		w := sc.cpuLine[best]
		sc.cpuLine = append(sc.cpuLine[:best], sc.cpuLine[best+1:]...)
		w.sh.queued--
		w.sh.running++
		sc.cpuFree--
		w.granted = true
		w.ready <- struct{}{}
	}
	sc.cpuWaiting.Store(int32(len(sc.cpuLine)))
}

// tick is a running run's periodic check: it charges the time since the
// last one and says whether the run should give its token to a waiting
// tenant with less use.
func (sc *sched) tick(sh *share, used time.Duration, held time.Duration) (yield bool) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.charge(sh, used)
	now := sc.now()
	if sh.heavy.Load() && sh.vt-now > int64(throttleBurst) {
		return true // ahead of its pace: give the token up and wait
	}
	if held < sliceMin || len(sc.cpuLine) == 0 {
		return false
	}
	mine := sh.priority(now)
	for _, w := range sc.cpuLine {
		if w.sh != sh && w.sh.priority(now) < mine {
			return true
		}
	}
	return false
}
