package runtime

import (
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// The Lua VM has no per-state memory accounting, so a script that fills
// tables or builds strings in a loop can allocate gigabytes before its
// deadline, and a few of them at once could take the process down. The
// watchdog samples the Go heap; when it passes the limit, it stops every run
// in flight (their VMs are discarded and their memory becomes garbage) and
// lets the next requests in. Go's own soft memory limit is set to the same
// value so the collector works harder as the heap approaches it.

// memCheckEvery is how often the heap is sampled.
const memCheckEvery = 10 * time.Millisecond

type watchdog struct {
	limit uint64
	mu    sync.Mutex
	vms   map[*vm]struct{}
	stop  chan struct{}
	kills atomic.Int64
}

func newWatchdog(limit int64) *watchdog {
	w := &watchdog{limit: uint64(limit), vms: map[*vm]struct{}{}, stop: make(chan struct{})}
	if limit > 0 {
		debug.SetMemoryLimit(limit)
		go w.loop()
	}
	return w
}

func (w *watchdog) track(v *vm) {
	w.mu.Lock()
	w.vms[v] = struct{}{}
	w.mu.Unlock()
}

func (w *watchdog) forget(v *vm) {
	w.mu.Lock()
	delete(w.vms, v)
	w.mu.Unlock()
}

func (w *watchdog) loop() {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	t := time.NewTicker(memCheckEvery)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 || sample[0].Value.Uint64() < w.limit {
			continue
		}
		w.mu.Lock()
		for v := range w.vms {
			if v.deadline.fire("memory") {
				w.kills.Add(1)
			}
		}
		w.mu.Unlock()
	}
}

func (w *watchdog) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
}
