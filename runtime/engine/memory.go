package engine

import (
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// The Lua VM has no per-state memory accounting, so a script that fills
// tables or builds strings in a loop can allocate gigabytes before its
// deadline, and a few of them at once could take the process down. Two
// checks hold it (see livesize.go for how a run's memory is measured):
// every run measures what it reaches now and then and is stopped past
// Options.MaxRunMemory; and the watchdog samples the Go heap, and when it
// passes Options.MaxMemory it asks every running run to measure itself at
// once, and the runs holding more than guiltyFloor stop. A calm tenant's
// runs, which hold kilobytes, go on.
//
// The watchdog is opt-in (Options.MaxMemory) and changes no process-wide
// setting: the heap it samples is the process's (Go offers no other
// reading), but what it stops is only this engine's runs that hold much of
// it, measured by what they reach. The program may also set Go's soft memory
// limit (debug.SetMemoryLimit) to the same value, as cmd/dialua does, so the
// collector works harder as the heap approaches it.

// memCheckEvery is how often the heap is sampled.
const memCheckEvery = 10 * time.Millisecond

// guiltyFloor is what a run must hold to be stopped while the heap is over
// its limit.
const guiltyFloor = 8 << 20

type watchdog struct {
	limit    uint64
	pressure *atomic.Int64 // the scheduler's: running runs answer each rise
	stop     chan struct{}
}

func newWatchdog(limit int64, pressure *atomic.Int64) *watchdog {
	w := &watchdog{limit: uint64(limit), pressure: pressure, stop: make(chan struct{})}
	if limit > 0 {
		go w.loop()
	}
	return w
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
		// When no run holds more than guiltyFloor, the heap is held by
		// something else (sessions, compiled scripts), and stopping runs
		// would not free it.
		w.pressure.Add(1)
	}
}

func (w *watchdog) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
}
