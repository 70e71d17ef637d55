package engine

import (
	"context"
	goruntime "runtime"
	"sync"
	"testing"
	"time"
)

// Contexts derived from a run's deadline (as the http module and the
// session stores derive them) must end cleanly when the deadline fires,
// however the firing interleaves with the deadline being reset for the next
// run. A derived context that found the parent closed but its Err nil made
// the context package panic and took the server down.
func TestDerivedContextsAcrossRuns(t *testing.T) {
	d := newRunDeadline()
	for i := 0; i < 2000; i++ {
		d.start(context.Background(), time.Now().Add(time.Hour))
		child, cancel := context.WithTimeout(d, time.Hour)
		if i%2 == 0 {
			// Fired from elsewhere, as the timer and the watchdog do.
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				d.fire(StopMemory)
			}()
			wg.Wait()
			<-child.Done()
			if child.Err() == nil {
				t.Fatal("derived context done without an error")
			}
		} else {
			// Fired and reset at once: the derived context learns of it
			// only afterwards.
			d.fire(StopDeadline)
		}
		d.stop()
		cancel()
	}
	time.Sleep(50 * time.Millisecond) // let any late watcher run
}

// Derived contexts register with the deadline instead of each starting a
// goroutine that watches Done: a watcher can wake after the deadline was
// reset for the next run, which is the race above.
func TestDerivedContextsStartNoWatchers(t *testing.T) {
	d := newRunDeadline()
	d.start(context.Background(), time.Now().Add(time.Hour))
	before := goruntime.NumGoroutine()
	var cancels []context.CancelFunc
	for i := 0; i < 100; i++ {
		_, cancel := context.WithTimeout(d, time.Hour)
		cancels = append(cancels, cancel)
	}
	if n := goruntime.NumGoroutine() - before; n > 10 {
		t.Errorf("%d goroutines started for 100 derived contexts", n)
	}
	for _, c := range cancels {
		c()
	}
	d.stop()
}
