package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/runtime/sandbox"
)

// Script is one compiled version of a script file. It is immutable and shared
// by every VM; a new version of the file makes a new Script.
type Script struct {
	Proto   *lua.FunctionProto
	Chunk   string // tenant/path.lua, the name errors carry
	modTime time.Time
	size    int64
}

// failure is a file version that did not compile, remembered so it is
// compiled again only once the file changes.
type failure struct {
	err  *ScriptError
	mod  time.Time
	size int64
}

func newFailure(se *ScriptError, file string) *failure {
	f := &failure{err: se}
	if fi, err := os.Stat(file); err == nil {
		f.mod, f.size = fi.ModTime(), fi.Size()
	}
	return f
}

type scriptKey struct {
	tenant, script string
	module         bool
}

// entry is a cached script path. current is swapped atomically when the file
// changes, so a run in flight finishes on the version it started with.
type entry struct {
	key     scriptKey
	loc     located
	current atomic.Pointer[Script]
	failed  atomic.Pointer[failure] // set while the file has never compiled
	watched bool
	checked atomic.Int64 // unix nanos of the last stat, for unwatched entries
}

// store maps script paths to compiled scripts. It compiles lazily (start-up
// does not read the tree), keeps at most max entries, and follows file changes
// through an fsnotify watch on the folders of the scripts it has loaded.
type store struct {
	root string
	max  int
	log  *slog.Logger

	mu      sync.RWMutex
	entries map[scriptKey]*entry

	watch *watcher // nil when watching is unavailable
}

func newStore(root string, max int, watch bool, log *slog.Logger) (*store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	s := &store{root: abs, max: max, log: log, entries: map[scriptKey]*entry{}}
	if !watch {
		return s, nil
	}
	w, err := newWatcher(s)
	if err != nil {
		log.Warn("file watching unavailable; scripts are re-checked on request every second", "err", err)
	} else {
		s.watch = w
	}
	return s, nil
}

func (s *store) close() {
	if s.watch != nil {
		s.watch.close()
	}
}

// pollEvery is how often an entry whose folder could not be watched is
// re-checked on request.
const pollEvery = time.Second / 2

// get returns the current compiled version of a script or module.
func (s *store) get(tenant, script string, module bool) (*Script, error) {
	k := scriptKey{tenant, script, module}
	s.mu.RLock()
	e := s.entries[k]
	s.mu.RUnlock()
	if e != nil {
		if !e.watched {
			s.poll(e)
		}
		if sc := e.current.Load(); sc != nil {
			return sc, nil
		}
		// A file that does not compile is compiled again only when it
		// changes, not on every request.
		if f := e.failed.Load(); f != nil {
			return nil, f.err
		}
	}
	return s.load(k)
}

// load resolves, compiles and caches a script seen for the first time (or
// again after it was dropped).
func (s *store) load(k scriptKey) (*Script, error) {
	loc, err := s.locate(k.tenant, k.script, k.module)
	if err != nil {
		return nil, err
	}
	sc, err := compileFile(loc)
	var failed *ScriptError
	if err != nil {
		if !errors.As(err, &failed) {
			return nil, ErrNotFound
		}
		failed.Tenant, failed.Script = k.tenant, k.script
	}
	e := &entry{key: k, loc: loc}
	if failed != nil {
		e.failed.Store(newFailure(failed, loc.real))
	} else {
		e.current.Store(sc)
	}
	if s.watch != nil {
		e.watched = s.watch.add(filepath.Dir(loc.file), filepath.Dir(loc.real), filepath.Dir(loc.alt))
	}
	e.checked.Store(time.Now().UnixNano())

	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.entries[k]; old != nil && old.current.Load() != nil {
		return old.current.Load(), nil
	}
	if len(s.entries) >= s.max {
		// Random eviction: map order is unspecified, which is enough to
		// keep a bounded cache without bookkeeping on every hit.
		for victim := range s.entries {
			delete(s.entries, victim)
			break
		}
	}
	s.entries[k] = e
	if failed != nil {
		return nil, failed
	}
	return sc, nil
}

// MaxScriptBytes is the largest script or module file dialua compiles.
// Compiling is paid outside any run's deadline, so its cost must be bounded.
const MaxScriptBytes = 1 << 20

// compileFile reads and compiles one file. It opens the file through an
// os.Root on the tenant's folder: the path was checked when it was located,
// but a link swapped in between the check and the open must still not lead
// out of the tenant's folder.
func compileFile(loc located) (*Script, error) {
	root, err := os.OpenRoot(loc.root)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := root.Open(loc.rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() > MaxScriptBytes {
		return nil, &ScriptError{Kind: KindCompile, Location: loc.chunk,
			Message: fmt.Sprintf("file is %d bytes; scripts may be at most %d", fi.Size(), MaxScriptBytes)}
	}
	src := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, src); err != nil {
		return nil, err
	}
	proto, err := sandbox.Compile(src, loc.chunk)
	if err != nil {
		return nil, compileError(err, loc.chunk, bytes.Count(src, []byte("\n"))+1)
	}
	return &Script{Proto: proto, Chunk: loc.chunk, modTime: fi.ModTime(), size: fi.Size()}, nil
}

// refresh re-reads an entry after its file changed: a new version that
// compiles replaces the current one; one that does not is logged and the last
// good version keeps serving; a file that is gone (or that another candidate
// now shadows) drops the entry so the next request resolves afresh.
func (s *store) refresh(e *entry) {
	loc, err := s.locate(e.key.tenant, e.key.script, e.key.module)
	if err != nil || loc.real != e.loc.real || loc.file != e.loc.file {
		s.drop(e)
		return
	}
	sc, err := compileFile(loc)
	if err != nil {
		var se *ScriptError
		if e.current.Load() == nil && errors.As(err, &se) {
			se.Tenant, se.Script = e.key.tenant, e.key.script
			e.failed.Store(newFailure(se, loc.real))
			s.log.Error("script does not compile", "tenant", e.key.tenant, "script", e.key.script, "error", err.Error())
			return
		}
		s.log.Error("script does not compile; the last good version keeps serving",
			"tenant", e.key.tenant, "script", e.key.script, "error", err.Error())
		return
	}
	e.failed.Store(nil)
	old := e.current.Load()
	if old != nil && old.modTime.Equal(sc.modTime) && old.size == sc.size && !e.watched {
		return
	}
	if sc.size == 0 && old != nil && old.size > 0 {
		// Most likely caught between an editor's truncate and its write.
		// A script meant to do nothing can say so with "return".
		s.log.Warn("script file is empty; the previous version keeps serving",
			"tenant", e.key.tenant, "script", e.key.script, "file", loc.chunk)
		return
	}
	e.current.Store(sc)
	s.log.Info("script reloaded", "tenant", e.key.tenant, "script", e.key.script, "file", loc.chunk)
}

func (s *store) drop(e *entry) {
	s.mu.Lock()
	if s.entries[e.key] == e {
		delete(s.entries, e.key)
	}
	s.mu.Unlock()
}

// poll re-checks an unwatched entry's file at most every pollEvery.
func (s *store) poll(e *entry) {
	now := time.Now().UnixNano()
	last := e.checked.Load()
	if now-last < int64(pollEvery) || !e.checked.CompareAndSwap(last, now) {
		return
	}
	fi, err := os.Stat(e.loc.real)
	cur := e.current.Load()
	if cur == nil {
		// A failed entry: try again when the file is not the one that failed.
		f := e.failed.Load()
		if err != nil || f == nil || !fi.ModTime().Equal(f.mod) || fi.Size() != f.size {
			s.refresh(e)
		}
		return
	}
	if err != nil || !fi.ModTime().Equal(cur.modTime) || fi.Size() != cur.size {
		s.refresh(e)
		return
	}
	if e.loc.alt != "" {
		if _, err := os.Stat(e.loc.alt); err == nil {
			s.drop(e)
		}
	}
}

// affected lists the entries a change to path may concern.
func (s *store) affected(path string) []*entry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*entry
	for _, e := range s.entries {
		if e.loc.file == path || e.loc.real == path || e.loc.alt == path {
			out = append(out, e)
		}
	}
	return out
}

// dropAll forgets every entry, after the watcher lost events.
func (s *store) dropAll() {
	s.mu.Lock()
	s.entries = map[scriptKey]*entry{}
	s.mu.Unlock()
}
