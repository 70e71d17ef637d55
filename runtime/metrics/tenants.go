package metrics

import (
	"container/heap"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Other is the tenant label of every tenant without one of its own.
const Other = "other"

// The tenant label rule (docs/operations.md): at most MaxTenants tenants
// have their own tenant label value, and every other tenant's numbers are
// added to tenant="other", so a server with 10,000 tenants exports at most
// MaxTenants+1 values of the label.
//
//   - While fewer than MaxTenants tenants have a label, a tenant gets one at
//     its first run of a script that exists (a request for a missing script or
//     tenant never earns one, so scanning for names fills nothing).
//   - Once they are all taken, the busiest tenants win them every
//     Rebalance (1 minute): the labeled tenants' runs are counted exactly,
//     the others' in a bounded top-K sketch (Space-Saving, 4 x MaxTenants
//     entries, so memory stays bounded however many names are seen); a
//     tenant outside replaces a labeled one when it ran more than twice as
//     often in the last window (so labels do not flap between tenants of
//     about the same load). A tenant that loses its label loses its series
//     (its later numbers go to "other"); Prometheus' rate() reads that as
//     the series ending.

// tenantEntry is one labeled tenant's resolved series.
type tenantEntry struct {
	name string
	runs atomic.Int64 // runs in this window, for the rebalance
	dead atomic.Bool  // lost its label: new series go to other

	run  atomic.Pointer[seriesObserver] // run-duration histogram child
	req  [statusClasses * events]atomic.Pointer[seriesCounter]
	http [httpOutcomes]atomic.Pointer[seriesCounter]
}

type seriesCounter struct{ c counter }
type seriesObserver struct{ o observer }

type sketchItem struct {
	name  string
	count int64
	index int
}

// sketch is a Space-Saving top-K of the unlabeled tenants' runs: a min-heap
// by count with a map to find an item.
type sketch struct {
	items []*sketchItem
	by    map[string]*sketchItem
	cap   int
}

func (s *sketch) Len() int           { return len(s.items) }
func (s *sketch) Less(i, j int) bool { return s.items[i].count < s.items[j].count }
func (s *sketch) Swap(i, j int) {
	s.items[i], s.items[j] = s.items[j], s.items[i]
	s.items[i].index, s.items[j].index = i, j
}
func (s *sketch) Push(x any) {
	it := x.(*sketchItem)
	it.index = len(s.items)
	s.items = append(s.items, it)
}
func (s *sketch) Pop() any {
	it := s.items[len(s.items)-1]
	s.items = s.items[:len(s.items)-1]
	return it
}

func (s *sketch) add(name string) {
	if it := s.by[name]; it != nil {
		it.count++
		heap.Fix(s, it.index)
		return
	}
	if len(s.items) < s.cap {
		it := &sketchItem{name: strings.Clone(name), count: 1}
		heap.Push(s, it)
		s.by[it.name] = it
		return
	}
	// Space-Saving: the new name takes the least counted item's place and
	// count (an over-estimate, never an under-estimate).
	it := s.items[0]
	delete(s.by, it.name)
	it.name = strings.Clone(name)
	it.count++
	s.by[it.name] = it
	heap.Fix(s, 0)
}

func (s *sketch) reset() {
	s.items = s.items[:0]
	clear(s.by)
}

// tenantSet decides each tenant's label value.
type tenantSet struct {
	max       int
	every     time.Duration
	m         *Metrics
	other     *tenantEntry
	labeled   atomic.Pointer[map[string]*tenantEntry] // copied on write, under mu
	nextCheck atomic.Int64                            // unix nanoseconds of the next rebalance

	mu     sync.Mutex
	sketch sketch
	now    func() time.Time
}

func newTenantSet(m *Metrics, n int, every time.Duration) *tenantSet {
	t := &tenantSet{max: n, every: every, m: m, other: &tenantEntry{name: Other}, now: time.Now,
		sketch: sketch{by: map[string]*sketchItem{}, cap: max(64, 4*n)}}
	empty := map[string]*tenantEntry{}
	t.labeled.Store(&empty)
	t.nextCheck.Store(t.now().Add(every).UnixNano())
	return t
}

// lookup is tenant's entry: its own, or other's. It takes no lock.
func (t *tenantSet) lookup(tenant string) *tenantEntry {
	if e := (*t.labeled.Load())[tenant]; e != nil {
		return e
	}
	return t.other
}

// ran counts a run of tenant and returns its entry: a tenant gets a label
// here while labels are free; once a window has passed, this call
// rebalances.
func (t *tenantSet) ran(tenant string) *tenantEntry {
	if now := t.now().UnixNano(); now >= t.nextCheck.Load() {
		t.rebalance()
	}
	if e := (*t.labeled.Load())[tenant]; e != nil {
		e.runs.Add(1)
		return e
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	cur := *t.labeled.Load()
	if e := cur[tenant]; e != nil { // labeled meanwhile
		e.runs.Add(1)
		return e
	}
	if len(cur) < t.max {
		e := &tenantEntry{name: strings.Clone(tenant)}
		e.runs.Add(1)
		t.store(cur, e, nil)
		return e
	}
	t.sketch.add(tenant)
	return t.other
}

// store publishes a copy of cur with add added and drop removed; under mu.
func (t *tenantSet) store(cur map[string]*tenantEntry, add *tenantEntry, drop map[string]bool) {
	next := make(map[string]*tenantEntry, len(cur)+1)
	for k, v := range cur {
		if !drop[k] {
			next[k] = v
		}
	}
	if add != nil {
		next[add.name] = add
	}
	t.labeled.Store(&next)
}

// rebalance gives the labels to the busiest tenants of the window that
// ended, and starts a new window.
func (t *tenantSet) rebalance() {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if now.UnixNano() < t.nextCheck.Load() {
		return // another caller did it
	}
	t.nextCheck.Store(now.Add(t.every).UnixNano())
	cur := *t.labeled.Load()
	type cand struct {
		name  string
		score int64
		e     *tenantEntry
	}
	cands := make([]cand, 0, len(cur)+len(t.sketch.items))
	for name, e := range cur {
		cands = append(cands, cand{name, 2 * e.runs.Load(), e}) // twice: the incumbent's margin
	}
	for _, it := range t.sketch.items {
		cands = append(cands, cand{name: it.name, score: it.count})
	}
	slices.SortStableFunc(cands, func(a, b cand) int {
		switch {
		case a.score != b.score:
			if a.score > b.score {
				return -1
			}
			return 1
		case (a.e != nil) != (b.e != nil): // ties: the incumbent stays
			if a.e != nil {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	keep := map[string]*tenantEntry{}
	for _, c := range cands {
		if len(keep) == t.max {
			break
		}
		if c.e == nil {
			c.e = &tenantEntry{name: c.name}
		}
		keep[c.name] = c.e
	}
	for name, e := range cur {
		if keep[name] == nil {
			e.dead.Store(true)
			t.m.forget(name)
		}
	}
	for _, e := range keep {
		e.runs.Store(0)
	}
	t.labeled.Store(&keep)
	t.sketch.reset()
}

// counterAt returns the entry's child counter in slot, made on first use:
// for a tenant that lost its label, other's.
func (t *tenantSet) counterAt(e *tenantEntry, slot *atomic.Pointer[seriesCounter], mk func(tenant string) counter) counter {
	if s := slot.Load(); s != nil {
		return s.c
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := slot.Load(); s != nil {
		return s.c
	}
	name := e.name
	if e.dead.Load() {
		return mk(Other) // the series would outlive the label; count it as other's
	}
	s := &seriesCounter{c: mk(name)}
	slot.Store(s)
	return s.c
}

// runObserver is the entry's run-duration histogram child.
func (t *tenantSet) runObserver(e *tenantEntry) observer {
	if s := e.run.Load(); s != nil {
		return s.o
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := e.run.Load(); s != nil {
		return s.o
	}
	if e.dead.Load() {
		return t.m.runSeconds.WithLabelValues(Other)
	}
	s := &seriesObserver{o: t.m.runSeconds.WithLabelValues(e.name)}
	e.run.Store(s)
	return s.o
}

// labels is how many tenants have a label of their own.
func (t *tenantSet) labels() int { return len(*t.labeled.Load()) }
