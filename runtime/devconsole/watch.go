package devconsole

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// maxWatchedDirs bounds the folders the console watches for saves.
const maxWatchedDirs = 1000

// watcher reports saves of .lua files under the scripts folder.
type watcher struct {
	w    *fsnotify.Watcher
	done chan struct{}
}

func newWatcher(root string, saved func(file string), log *slog.Logger) (*watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	n := 0
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if n >= maxWatchedDirs {
			return fs.SkipAll
		}
		if p != root && strings.HasPrefix(d.Name(), ".") {
			return fs.SkipDir
		}
		if fw.Add(p) == nil {
			n++
		}
		return nil
	})
	wt := &watcher{w: fw, done: make(chan struct{})}
	go func() {
		defer close(wt.done)
		// Editors save in bursts (write, rename, chmod): one notice per
		// file per 200 ms.
		last := map[string]time.Time{}
		for {
			select {
			case ev, ok := <-fw.Events:
				if !ok {
					return
				}
				if ev.Op&(fsnotify.Create) != 0 && n < maxWatchedDirs {
					if fw.Add(ev.Name) == nil { // a new folder; fails for a file
						n++
					}
				}
				if !strings.HasSuffix(ev.Name, ".lua") || ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) == 0 {
					continue
				}
				rel, err := filepath.Rel(root, ev.Name)
				if err != nil {
					continue
				}
				rel = filepath.ToSlash(rel)
				if t, ok := last[rel]; ok && time.Since(t) < 200*time.Millisecond {
					continue
				}
				if len(last) > 4096 {
					clear(last)
				}
				last[rel] = time.Now()
				saved(rel)
			case err, ok := <-fw.Errors:
				if !ok {
					return
				}
				log.Warn("dev console: watching the scripts folder", "err", err)
			}
		}
	}()
	return wt, nil
}

func (w *watcher) close() {
	w.w.Close()
	<-w.done
}

// hub fans page-wide notices (a script saved) out to every open page.
type hub struct {
	mu     sync.Mutex
	subs   map[chan pageEvent]struct{}
	closed bool
}

type pageEvent struct {
	Type string `json:"type"` // saved
	File string `json:"file"`
	At   string `json:"at"`
}

// maxPages bounds the pages listening at once.
const maxPages = 32

func newHub() *hub { return &hub{subs: map[chan pageEvent]struct{}{}} }

func (h *hub) saved(file string) {
	e := pageEvent{Type: "saved", File: file, At: time.Now().Format("15:04:05")}
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- e:
		default: // a page that does not keep up misses a notice
		}
	}
}

func (h *hub) subscribe() (chan pageEvent, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || len(h.subs) >= maxPages {
		return nil, false
	}
	ch := make(chan pageEvent, 16)
	h.subs[ch] = struct{}{}
	return ch, true
}

func (h *hub) unsubscribe(ch chan pageEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[ch]; ok {
		delete(h.subs, ch)
		close(ch)
	}
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch := range h.subs {
		delete(h.subs, ch)
		close(ch)
	}
}

// pageEvents streams page-wide notices as server-sent events.
func (c *Console) pageEvents(w http.ResponseWriter, r *http.Request) {
	ch, ok := c.hub.subscribe()
	if !ok {
		writeError(w, http.StatusServiceUnavailable, "too many console pages open")
		return
	}
	defer c.hub.unsubscribe(ch)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	rc := http.NewResponseController(w)
	fmt.Fprint(w, ": hello\n\n")
	if rc.Flush() != nil {
		return
	}
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				return
			}
			b, _ := json.Marshal(e)
			fmt.Fprintf(w, "data: %s\n\n", b)
		case <-keepAlive.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case <-r.Context().Done():
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
}
