package runtime

import (
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// settle is how long a file must be quiet before it is recompiled: editors
// save in several steps (truncate, write, rename), and compiling the
// half-written file in between would serve a wrong version for a moment.
const settle = 30 * time.Millisecond

// watcher turns file-system events in watched folders into store refreshes.
type watcher struct {
	s  *store
	fw *fsnotify.Watcher

	mu      sync.Mutex
	dirs    map[string]bool // folders watched, or that failed to be
	pending map[string]bool // paths changed and not yet processed
	timer   *time.Timer
	done    chan struct{}
}

func newWatcher(s *store) (*watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &watcher{s: s, fw: fw, dirs: map[string]bool{}, pending: map[string]bool{}, done: make(chan struct{})}
	w.timer = time.AfterFunc(time.Hour, w.flush)
	w.timer.Stop()
	go w.loop()
	return w, nil
}

// add watches folders (empty names are skipped) and reports whether all of
// them are watched.
func (w *watcher) add(dirs ...string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	ok := true
	for _, d := range dirs {
		if d == "" || d == "." {
			continue
		}
		watched, seen := w.dirs[d]
		if !seen {
			watched = w.fw.Add(d) == nil
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
			w.pending[ev.Name] = true
			w.timer.Reset(settle)
			w.mu.Unlock()
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			// An overflow means events were lost: forget everything and
			// let requests reload what they need.
			w.s.log.Warn("file watcher lost events; dropping the script cache", "err", err)
			w.s.dropAll()
		case <-w.done:
			return
		}
	}
}

func (w *watcher) flush() {
	w.mu.Lock()
	paths := w.pending
	w.pending = map[string]bool{}
	w.mu.Unlock()
	for p := range paths {
		for _, e := range w.s.affected(p) {
			w.s.refresh(e)
		}
	}
}

func (w *watcher) close() {
	close(w.done)
	w.timer.Stop()
	w.fw.Close()
}
