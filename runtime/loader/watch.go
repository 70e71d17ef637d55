package loader

import (
	"github.com/dialua/dialua/runtime/internal/filestamp"
	"log/slog"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// settle is how long after the first change of a burst the changed files are
// recompiled: editors save in several steps (truncate, write, rename), and
// compiling the half-written file in between would serve a wrong version for
// a moment. The wait starts at the first event and is not extended by later
// ones, so a file written continuously still reloads every settle.
const settle = 30 * time.Millisecond

// maxDefer bounds how long a file that keeps changing can put off its reload.
const maxDefer = 300 * time.Millisecond

// watcher turns file-system events in watched folders into calls of the
// loader's changed function.
type watcher struct {
	log *slog.Logger
	fw  *fsnotify.Watcher

	mu      sync.Mutex
	dirs    map[string]bool      // folders watched, or that failed to be
	pending map[string]time.Time // paths changed and not yet processed, by first event
	armed   bool                 // timer is set to flush pending
	timer   *time.Timer
	done    chan struct{}
	changed func(name string) // the loader's; set by the first add
}

func newWatcher(log *slog.Logger) (*watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &watcher{log: log, fw: fw, dirs: map[string]bool{}, pending: map[string]time.Time{}, done: make(chan struct{})}
	w.timer = time.AfterFunc(time.Hour, w.flush)
	w.timer.Stop()
	go w.loop()
	return w, nil
}

// add watches folders (empty names are skipped) and reports whether all of
// them are watched. A folder that cannot be watched (the inotify watch limit,
// permissions) is logged once; its files are polled instead.
func (w *watcher) add(changed func(string), dirs ...string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.changed == nil {
		w.changed = changed
	}
	ok := true
	for _, d := range dirs {
		if d == "" || d == "." {
			continue
		}
		watched, seen := w.dirs[d]
		if !seen {
			err := w.fw.Add(d)
			if err != nil {
				w.log.Warn("cannot watch a scripts folder; its files are re-checked on request instead", "dir", d, "err", err)
			}
			watched = err == nil
			w.dirs[d] = watched
		}
		ok = ok && watched
	}
	return ok
}

func (w *watcher) loop() {
	for {
		select {
		case ev, ok := <-w.fw.Events:
			if !ok {
				return
			}
			w.mu.Lock()
			// A watched folder renamed away or removed: inotify's watch
			// follows the old folder, so forget it, and the folder that
			// takes its name is watched afresh when its scripts load.
			if _, ok := w.dirs[ev.Name]; ok && ev.Has(fsnotify.Rename|fsnotify.Remove|fsnotify.Create) {
				delete(w.dirs, ev.Name)
				_ = w.fw.Remove(ev.Name)
			}
			if _, ok := w.pending[ev.Name]; !ok {
				w.pending[ev.Name] = time.Now()
			}
			if !w.armed {
				w.armed = true
				w.timer.Reset(settle)
			}
			w.mu.Unlock()
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			// An overflow means events were lost: forget everything and
			// let requests reload what they need.
			w.log.Warn("file watcher lost events; dropping the script cache", "err", err)
			w.notify("")
		case <-w.done:
			return
		}
	}
}

func (w *watcher) flush() {
	w.mu.Lock()
	paths := w.pending
	w.pending = map[string]time.Time{}
	w.armed = false
	w.mu.Unlock()
	again := map[string]time.Time{}
	for p, first := range paths {
		// A file modified within the last settle period may still be
		// being written: look at it again on the next round, unless it has
		// been changing for maxDefer already.
		if st, err := filestamp.Stat(p); err == nil && st.Age() < settle && time.Since(first) < maxDefer {
			again[p] = first
			continue
		}
		w.notify(p)
	}
	if len(again) > 0 {
		w.mu.Lock()
		for p, first := range again {
			if _, ok := w.pending[p]; !ok {
				w.pending[p] = first
			}
		}
		if !w.armed {
			w.armed = true
			w.timer.Reset(settle)
		}
		w.mu.Unlock()
	}
}

func (w *watcher) notify(name string) {
	w.mu.Lock()
	fn := w.changed
	w.mu.Unlock()
	if fn != nil {
		fn(name)
	}
}

func (w *watcher) close() {
	close(w.done)
	w.timer.Stop()
	w.fw.Close()
}
