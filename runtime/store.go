package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
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
	bytes   int64 // estimated memory, see protoBytes
}

// failure is a file version that is not served, remembered so it is tried
// again only once the file changes: one that does not compile (a
// *ScriptError), or a file refused as if missing (ErrNotFound, for a hard
// link).
type failure struct {
	err  error
	mod  time.Time
	size int64
}

func newFailure(err error, file string) *failure {
	f := &failure{err: err}
	if fi, serr := os.Stat(file); serr == nil {
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

	used  atomic.Int64 // store.clock when last asked for, for LRU eviction
	bytes int64        // what the entry is charged in the cache; under store.mu

	// A refresh in progress, and the refreshes asked for since it started
	// (see refresh).
	refreshing atomic.Bool
	asked      atomic.Int64
}

// tenantCache is one tenant's part of the cache, for its byte share.
type tenantCache struct {
	bytes   int64
	entries map[*entry]struct{}
}

// flight is one load in progress, that concurrent first requests for the
// same script wait for instead of compiling the file again.
type flight struct {
	done chan struct{}
	sc   *Script
	err  error
}

// store maps script paths to compiled scripts. It compiles lazily (start-up
// does not read the tree), one compile per file version however many
// requests ask at once, and follows file changes through an fsnotify watch
// on the folders of the scripts it has loaded.
//
// The cache is bounded by count (max entries), by estimated bytes in total
// (maxBytes) and by bytes per tenant (tenantBytes), evicting least recently
// used entries. A tenant past its share evicts its own entries only; past
// the total or the count, the tenant holding the most evicts. So a tenant
// loading many large scripts cannot push another tenant's scripts out. One
// script bigger than a tenant's whole share is still cached, alone: the
// tenant's other entries go, so its share is exceeded by at most one
// script (at most a few MiB for a 1 MiB file), and the script does not
// recompile on every request.
type store struct {
	root        string
	max         int
	maxBytes    int64
	tenantBytes int64
	log         *slog.Logger

	mu      sync.RWMutex
	entries map[scriptKey]*entry
	tenants map[string]*tenantCache
	bytes   int64 // sum of the entries' bytes

	// clock is the LRU clock: it ticks at every insertion, and a hit stamps
	// its entry with the current tick (a write only when the stamp
	// changes), so hits take no lock and share no written cache line.
	// Entries used since the last insertion tie, which is all LRU needs.
	clock atomic.Int64

	fmu     sync.Mutex
	flights map[scriptKey]*flight

	watch *watcher // nil when watching is unavailable
}

func newStore(root string, max int, maxBytes, tenantBytes int64, watch bool, log *slog.Logger) (*store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	s := &store{root: abs, max: max, maxBytes: maxBytes, tenantBytes: tenantBytes, log: log,
		entries: map[scriptKey]*entry{}, tenants: map[string]*tenantCache{}, flights: map[scriptKey]*flight{}}
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
		if c := s.clock.Load(); e.used.Load() != c {
			e.used.Store(c)
		}
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
// again after it was dropped). Concurrent loads of one script share the
// first one's compile.
func (s *store) load(k scriptKey) (*Script, error) {
	s.fmu.Lock()
	if f := s.flights[k]; f != nil {
		s.fmu.Unlock()
		<-f.done
		return f.sc, f.err
	}
	f := &flight{done: make(chan struct{})}
	s.flights[k] = f
	s.fmu.Unlock()
	defer func() {
		s.fmu.Lock()
		delete(s.flights, k)
		s.fmu.Unlock()
		close(f.done)
	}()
	// A load that finished just before this one started has cached the
	// script already.
	s.mu.RLock()
	e := s.entries[k]
	s.mu.RUnlock()
	if e != nil {
		if sc := e.current.Load(); sc != nil {
			f.sc = sc
			return sc, nil
		}
		if fl := e.failed.Load(); fl != nil {
			f.err = fl.err
			return nil, fl.err
		}
	}
	f.sc, f.err = s.loadOnce(k)
	return f.sc, f.err
}

func (s *store) loadOnce(k scriptKey) (*Script, error) {
	loc, err := s.locate(k.tenant, k.script, k.module)
	if err != nil {
		return nil, err
	}
	e := &entry{key: k, loc: loc}
	if s.watch != nil {
		// Watched before the file is read, so a change while it compiles
		// is seen (see the check after insert).
		e.watched = s.watch.add(filepath.Dir(loc.file), filepath.Dir(loc.real), filepath.Dir(loc.alt))
	}
	e.checked.Store(time.Now().UnixNano())
	sc, err := s.compile(k, loc)
	var se *ScriptError
	var re *readError
	switch {
	case err == nil:
		e.current.Store(sc)
		e.bytes = sc.bytes
	case errors.As(err, &re):
		return nil, err // not cached: the next request tries again
	case errors.Is(err, errHardLink):
		e.failed.Store(newFailure(ErrNotFound, loc.real))
		e.bytes = entryBytes
	case errors.As(err, &se):
		e.failed.Store(newFailure(se, loc.real))
		e.bytes = entryBytes + int64(len(se.Message))
	default:
		// Gone between locate and open: not cached either.
		return nil, err
	}
	got := s.insert(e)
	if got != e {
		if sc := got.current.Load(); sc != nil {
			return sc, nil
		}
	}
	if sc == nil {
		return nil, e.failed.Load().err
	}
	// The file may have changed while it compiled, before the entry was
	// there for the watcher to find.
	if fi, err := os.Stat(loc.real); err != nil || !fi.ModTime().Equal(sc.modTime) || fi.Size() != sc.size {
		s.refresh(e)
	}
	return sc, nil
}

// compile compiles one file version and reports what it was refused for.
// Errors: errHardLink (logged here), a *ScriptError, or ErrNotFound.
func (s *store) compile(k scriptKey, loc located) (*Script, error) {
	start := time.Now()
	sc, err := compileFile(loc)
	var se *ScriptError
	switch {
	case err == nil:
		s.log.Debug("script compiled", "tenant", k.tenant, "script", k.script, "file", loc.chunk,
			"bytes", sc.bytes, "took", time.Since(start))
		return sc, nil
	case errors.Is(err, errHardLink):
		s.log.Warn("script file has more than one hard link (it may be another tenant's file); refused as missing",
			"tenant", k.tenant, "script", k.script, "file", loc.chunk)
		return nil, err
	case errors.As(err, &se):
		se.Tenant, se.Script = k.tenant, k.script
		return nil, se
	case errors.Is(err, fs.ErrNotExist):
		return nil, ErrNotFound
	}
	// Permissions, I/O: the operator must hear of it, and the caller gets
	// a failure (500, logged by the server), not a 404.
	return nil, &readError{&ScriptError{Kind: KindCompile, Tenant: k.tenant, Script: k.script, Location: loc.chunk,
		Message: "cannot read the file: " + err.Error()}}
}

// readError is a file that could not be read (other than missing): a
// *ScriptError to callers, but never cached, as the cause may pass.
type readError struct{ *ScriptError }

func (e *readError) Unwrap() error { return e.ScriptError }

// entryBytes is what an entry costs besides its compiled script: the
// entry, its paths, the map slots.
const entryBytes = 512

// insert caches e, unless another entry for its key holds a compiled
// script already (returned instead), then evicts what the bounds require.
func (s *store) insert(e *entry) *entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.entries[e.key]; old != nil {
		if old.current.Load() != nil {
			return old
		}
		s.remove(old)
	}
	e.used.Store(s.clock.Add(1))
	s.entries[e.key] = e
	t := s.tenants[e.key.tenant]
	if t == nil {
		t = &tenantCache{entries: map[*entry]struct{}{}}
		s.tenants[e.key.tenant] = t
	}
	t.entries[e] = struct{}{}
	t.bytes += e.bytes
	s.bytes += e.bytes
	s.evict(e)
	return e
}

// remove forgets a cached entry; under s.mu.
func (s *store) remove(e *entry) {
	delete(s.entries, e.key)
	if t := s.tenants[e.key.tenant]; t != nil {
		if _, ok := t.entries[e]; ok {
			delete(t.entries, e)
			t.bytes -= e.bytes
			s.bytes -= e.bytes
		}
		if len(t.entries) == 0 {
			delete(s.tenants, e.key.tenant)
		}
	}
}

// resize recharges e after a new version; under s.mu.
func (s *store) resize(e *entry, bytes int64) {
	if s.entries[e.key] != e {
		e.bytes = bytes
		return
	}
	t := s.tenants[e.key.tenant]
	t.bytes += bytes - e.bytes
	s.bytes += bytes - e.bytes
	e.bytes = bytes
	s.evict(e)
}

// evict brings the cache back within its bounds after keep was added or
// grew; keep itself stays. Under s.mu.
func (s *store) evict(keep *entry) {
	if t := s.tenants[keep.key.tenant]; t != nil {
		for t.bytes > s.tenantBytes {
			v := oldest(t, keep)
			if v == nil {
				break // keep alone, bigger than the share
			}
			s.remove(v)
		}
	}
	for s.bytes > s.maxBytes || len(s.entries) > s.max {
		// The tenant holding the most (bytes, or entries when over the
		// count) gives up its least recently used entry.
		var big *tenantCache
		byCount := s.bytes <= s.maxBytes
		for _, t := range s.tenants {
			if len(t.entries) == 0 || (len(t.entries) == 1 && hasEntry(t, keep)) {
				continue
			}
			if big == nil || (byCount && len(t.entries) > len(big.entries)) || (!byCount && t.bytes > big.bytes) {
				big = t
			}
		}
		if big == nil {
			return
		}
		s.remove(oldest(big, keep))
	}
}

func hasEntry(t *tenantCache, e *entry) bool {
	_, ok := t.entries[e]
	return ok
}

// evictSample is how many of a tenant's entries eviction compares: an
// approximation of LRU (as Redis's) that keeps eviction cheap however many
// entries a tenant has. Go's map iteration starts at a random place.
const evictSample = 16

// oldest is the least recently used of a sample of t's entries, other than
// keep; nil when keep is all there is.
func oldest(t *tenantCache, keep *entry) *entry {
	var v *entry
	n := 0
	for e := range t.entries {
		if e == keep {
			continue
		}
		if v == nil || e.used.Load() < v.used.Load() {
			v = e
		}
		if n++; n == evictSample {
			break
		}
	}
	return v
}

// protoBytes estimates a compiled function's memory, nested functions
// included: the FunctionProto itself, its code, its constants (an interface
// each, plus the boxed value: a string's header and bytes, a number's 8
// bytes; and the compiler's parallel list of string constants), and its
// debug information (a source line per instruction, local variables with
// names and ranges, call and upvalue names). Slices count at capacity. It
// leaves out allocator rounding and map overhead, so it errs a little low,
// but grows in proportion to the real figure.
func protoBytes(p *lua.FunctionProto) int64 {
	n := int64(200) // the struct and its slice headers
	n += 4 * int64(cap(p.Code))
	n += 8 * int64(cap(p.DbgSourcePositions))
	for _, c := range p.Constants {
		n += 16 + 16 // the interface, and the string constants list's entry
		switch v := c.(type) {
		case lua.LString:
			n += 16 + int64(len(v))
		case lua.LNumber:
			n += 8
		}
	}
	n += 16 * int64(cap(p.Constants)-len(p.Constants))
	for _, l := range p.DbgLocals {
		n += 8 + 40 + int64(len(l.Name))
	}
	for _, c := range p.DbgCalls {
		n += 24 + int64(len(c.Name))
	}
	for _, u := range p.DbgUpvalues {
		n += 16 + int64(len(u))
	}
	for _, child := range p.FunctionPrototypes {
		n += 8 + protoBytes(child)
	}
	return n
}

// errHardLink: the file has more than one name, so it may be another
// tenant's file linked into this tenant's folder (the real-path check
// cannot see that: a hard link is the file itself).
var errHardLink = errors.New("file has more than one hard link")

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
	// Checked on the file opened, not on the path, so a link made between
	// the check and the open cannot slip through.
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
		return nil, errHardLink
	}
	if !fi.Mode().IsRegular() {
		return nil, fs.ErrNotExist
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
	sc := &Script{Proto: proto, Chunk: loc.chunk, modTime: fi.ModTime(), size: fi.Size()}
	sc.bytes = protoBytes(proto) + entryBytes + int64(len(loc.chunk))
	return sc, nil
}

// refresh re-reads an entry after its file changed. Refreshes of one entry
// never run at once: one asked for while another runs makes that one go
// round again when it is done, so a burst of changes costs at most two
// compiles, and the last version of the file is the one compiled last.
func (s *store) refresh(e *entry) {
	e.asked.Add(1)
	for e.refreshing.CompareAndSwap(false, true) {
		for {
			n := e.asked.Load()
			s.refreshOnce(e)
			if e.asked.CompareAndSwap(n, 0) {
				break
			}
		}
		e.refreshing.Store(false)
		// One asked for between the last round and the Store above saw
		// the refresh running and left it to this loop.
		if e.asked.Load() == 0 {
			return
		}
	}
}

// refreshOnce compiles the file again: a new version that compiles replaces
// the current one; one that does not is logged and the last good version
// keeps serving; a file that is gone (or that another candidate now
// shadows, or that has gained a hard link) drops the entry so the next
// request resolves afresh.
func (s *store) refreshOnce(e *entry) {
	loc, err := s.locate(e.key.tenant, e.key.script, e.key.module)
	if err != nil || loc.real != e.loc.real || loc.file != e.loc.file {
		s.drop(e)
		return
	}
	sc, err := s.compile(e.key, loc)
	if err != nil {
		var se *ScriptError
		var re *readError
		switch {
		case errors.Is(err, errHardLink), errors.Is(err, ErrNotFound):
			s.drop(e)
		case e.current.Load() == nil && !errors.As(err, &re) && errors.As(err, &se):
			e.failed.Store(newFailure(se, loc.real))
			s.log.Error("script does not compile", "tenant", e.key.tenant, "script", e.key.script, "error", err.Error())
		default:
			s.log.Error("script does not compile; the last good version keeps serving",
				"tenant", e.key.tenant, "script", e.key.script, "error", err.Error())
		}
		return
	}
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
	e.failed.Store(nil)
	s.mu.Lock()
	s.resize(e, sc.bytes)
	s.mu.Unlock()
	s.log.Info("script reloaded", "tenant", e.key.tenant, "script", e.key.script, "file", loc.chunk)
}

func (s *store) drop(e *entry) {
	s.mu.Lock()
	if s.entries[e.key] == e {
		s.remove(e)
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
	s.tenants = map[string]*tenantCache{}
	s.bytes = 0
	s.mu.Unlock()
}
