package loader

import (
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Script is one compiled version of a script file. It is immutable and shared
// by every VM; a new version of the file makes a new Script.
type Script struct {
	Proto   *lua.FunctionProto
	Chunk   string // tenant/path.lua, the name errors carry
	version Version
	bytes   int64 // estimated memory, see protoBytes

	template *template // the compiled form it shares (see share.go)
}

// Data reports whether the script is a data module (sandbox.DataMarker and
// sandbox.PureData): built once per VM, handed out frozen.
func (s *Script) Data() bool { return s.template != nil && s.template.data }

// failure is a file version that is not served, remembered so it is tried
// again only once the file changes: one that does not compile (a
// *ScriptError), or a file refused as if missing (ErrNotFound).
type failure struct {
	err     error
	version Version
}

// Name is what a script is asked for by: a tenant's script (or, with
// Module, a module of its lib/ folder for require), in one of the tenant's
// releases ("" for the scripts folder, or whatever the source serves when
// no release is named). Two releases of a tenant are two sets of entries
// in the cache, so a run that picked a release loads every module from it.
type Name struct {
	Tenant, Release, Script string
	Module                  bool
}

type scriptKey = Name

// entry is a cached script path. current is swapped atomically when the file
// changes, so a run in flight finishes on the version it started with.
type entry struct {
	key     scriptKey
	file    File
	group   *group // nil when the file has no group
	current atomic.Pointer[Script]
	failed  atomic.Pointer[failure] // set while the file has never compiled
	watched bool
	checked atomic.Int64 // unix nanos of the last version check, for unwatched entries

	used  atomic.Int64 // Loader.clock when last asked for, for LRU eviction
	bytes int64        // what the entry is charged in the cache; under Loader.mu

	// A refresh in progress, and the refreshes asked for since it started
	// (see refresh).
	refreshing atomic.Bool
	asked      atomic.Int64
}

// group is a set of files replaced together (File.Group: a tenant folder).
type group struct {
	tenant  string
	id      string       // File.GroupID of the tree its entries came from; under Loader.mu
	checked atomic.Int64 // unix nanos of the last check, for unwatched entries
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

// Options bound a Loader's cache. Zero values take the defaults noted.
type Options struct {
	MaxScripts     int          // compiled scripts kept; default 100,000
	MaxBytes       int64        // their estimated memory in total; default 512 MiB
	MaxTenantBytes int64        // one tenant's share of it; default 64 MiB
	Logger         *slog.Logger // compile errors and reloads; default: discard
	// Observer hears of hits, misses, evictions, compile errors and hot
	// swaps (metrics); nil: nobody, at no cost.
	Observer Observer
}

// Observer is told of the cache's events, one of the Cache* names, as they
// happen. It must be cheap and safe for concurrent use: a hit calls it on
// every request.
type Observer interface {
	CacheEvent(event string)
}

// The events an Observer hears.
const (
	CacheHit          = "hit"           // answered from the cache (a script, or a cached failure)
	CacheMiss         = "miss"          // not cached: located and compiled (or waited for the compile in flight)
	CacheEvict        = "evict"         // an entry pushed out by the cache's bounds
	CacheCompileError = "compile_error" // a file version that does not compile, or cannot be read
	CacheSwap         = "swap"          // a changed file's new version replaced the cached one
)

// Stats is what the cache holds now.
type Stats struct {
	Entries int   // cached scripts and remembered failures
	Bytes   int64 // their estimated memory
}

// Stats reports what the cache holds.
func (s *Loader) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return Stats{Entries: len(s.entries), Bytes: s.bytes}
}

func (s *Loader) note(event string) {
	if s.obs != nil {
		s.obs.CacheEvent(event)
	}
}

// Defaults of Options.
const (
	DefaultMaxScripts     = 100000
	DefaultMaxBytes       = 512 << 20
	DefaultMaxTenantBytes = 64 << 20
)

// Loader maps script paths to compiled scripts, read from a Source. It
// compiles lazily (start-up reads nothing), one compile per file version
// however many requests ask at once, and follows changes the source reports
// (or re-checks unwatched files' versions on request, every pollEvery).
//
// The cache is bounded by count, by estimated bytes in total and by bytes
// per tenant, evicting least recently used entries. A tenant past its share
// evicts its own entries only; past the total or the count, the tenant
// holding the most evicts. So a tenant loading many large scripts cannot
// push another tenant's scripts out. One script bigger than a tenant's whole
// share is still cached, alone: the tenant's other entries go, so its share
// is exceeded by at most one script (at most a few MiB for a 1 MiB file),
// and the script does not recompile on every request.
type Loader struct {
	src         Source
	max         int
	maxBytes    int64
	tenantBytes int64
	log         *slog.Logger
	obs         Observer

	mu      sync.RWMutex
	entries map[scriptKey]*entry
	tenants map[string]*tenantCache
	bytes   int64             // sum of the entries' bytes
	groups  map[string]*group // by File.Group

	// clock is the LRU clock: it ticks at every insertion, and a hit stamps
	// its entry with the current tick (a write only when the stamp
	// changes), so hits take no lock and share no written cache line.
	// Entries used since the last insertion tie, which is all LRU needs.
	clock atomic.Int64

	fmu     sync.Mutex
	flights map[scriptKey]*flight

	shared templates
}

// New makes a loader over src. The loader does not own src: closing it is
// the caller's business.
func New(src Source, o Options) *Loader {
	if o.MaxScripts <= 0 {
		o.MaxScripts = DefaultMaxScripts
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxTenantBytes <= 0 {
		o.MaxTenantBytes = DefaultMaxTenantBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Loader{src: src, max: o.MaxScripts, maxBytes: o.MaxBytes, tenantBytes: o.MaxTenantBytes, log: o.Logger, obs: o.Observer,
		entries: map[scriptKey]*entry{}, tenants: map[string]*tenantCache{}, flights: map[scriptKey]*flight{},
		groups: map[string]*group{}}
}

// pollEvery is how often an entry whose file is not watched is re-checked
// on request.
const pollEvery = time.Second / 2

// Get returns the current compiled version of a script (module: of a
// module of the tenant's lib/ folder). Errors: ErrBadPath, ErrNotFound, a
// *ScriptError for a file that does not compile or cannot be read.
func (s *Loader) Get(k Name) (*Script, error) {
	if !ValidScriptPath(k.Tenant, k.Script) {
		return nil, ErrBadPath
	}
	s.mu.RLock()
	e := s.entries[k]
	s.mu.RUnlock()
	if e != nil {
		if c := s.clock.Load(); e.used.Load() != c {
			e.used.Store(c)
		}
		if !e.watched {
			if !k.Module && s.pollGroup(e) {
				return s.load(k) // the tree was replaced: e is gone
			}
			s.poll(e)
		}
		if sc := e.current.Load(); sc != nil {
			s.note(CacheHit)
			return sc, nil
		}
		// A file that does not compile is compiled again only when it
		// changes, not on every request.
		if f := e.failed.Load(); f != nil {
			s.note(CacheHit)
			return nil, f.err
		}
	}
	s.note(CacheMiss)
	return s.load(k)
}

// load resolves, compiles and caches a script seen for the first time (or
// again after it was dropped). Concurrent loads of one script share the
// first one's compile.
func (s *Loader) load(k scriptKey) (*Script, error) {
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

func (s *Loader) loadOnce(k scriptKey) (*Script, error) {
	f, err := s.src.Locate(k)
	if err != nil {
		return nil, s.locateErr(k, err)
	}
	e := &entry{key: k, file: f}
	// Watched before the file is read, so a change while it compiles is
	// seen (see the check after insert).
	e.watched = s.src.Watch(f, s.changed)
	e.checked.Store(time.Now().UnixNano())
	sc, ver, err := s.compile(k, f)
	var se *ScriptError
	var re *readError
	switch {
	case err == nil:
		e.current.Store(sc)
		e.bytes = sc.bytes
	case errors.As(err, &re):
		return nil, err // not cached: the next request tries again
	case errors.Is(err, ErrNotFound):
		if ver == (Version{}) {
			return nil, err // gone between Locate and Read: not cached either
		}
		e.failed.Store(&failure{err: ErrNotFound, version: ver})
		e.bytes = entryBytes
	case errors.As(err, &se):
		e.failed.Store(&failure{err: se, version: ver})
		e.bytes = entryBytes + int64(len(se.Message))
	default:
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
	if v, err := s.src.Version(f); err != nil || v != sc.version {
		s.refresh(e)
	}
	return sc, nil
}

// locateErr passes ErrNotFound on and makes anything else (a folder the
// server may not read) a logged failure of the request.
func (s *Loader) locateErr(k scriptKey, err error) error {
	if errors.Is(err, ErrNotFound) {
		return ErrNotFound
	}
	s.log.Error("cannot look up a script file", "tenant", k.Tenant, "script", k.Script, "err", err)
	return &readError{&ScriptError{Kind: KindCompile, Tenant: k.Tenant, Script: k.Script,
		Message: "cannot read the script's folder: " + err.Error()}}
}

// compile reads and compiles one file version. Errors: ErrNotFound (with
// the version, for a refused file), a *ScriptError, or a *readError.
func (s *Loader) compile(k scriptKey, f File) (*Script, Version, error) {
	start := time.Now()
	src, ver, err := s.src.Read(f)
	var se *ScriptError
	switch {
	case err == nil:
	case errors.Is(err, ErrRefused):
		why := strings.TrimPrefix(err.Error(), ErrRefused.Error()+": ")
		s.log.Warn(why+"; refused as missing", "tenant", k.Tenant, "script", k.Script, "file", f.Chunk)
		if ver == (Version{}) {
			ver = Version{Stamp: -1} // remembered until the file changes
		}
		return nil, ver, ErrNotFound
	case errors.As(err, &se):
		se.Tenant, se.Script = k.Tenant, k.Script
		s.note(CacheCompileError)
		return nil, ver, se
	case errors.Is(err, ErrNotFound):
		return nil, Version{}, ErrNotFound
	default:
		// Permissions, I/O: the operator must hear of it, and the caller
		// gets a failure (500), not a 404.
		s.log.Error("cannot read a script file", "tenant", k.Tenant, "script", k.Script, "file", f.Chunk, "err", err)
		s.note(CacheCompileError)
		return nil, Version{}, &readError{&ScriptError{Kind: KindCompile, Tenant: k.Tenant, Script: k.Script,
			Location: f.Chunk, Message: "cannot read the file: " + err.Error()}}
	}
	proto, tmpl, err := s.shared.compile(src, f.Chunk)
	if err != nil {
		se := compileError(err, f.Chunk, src)
		se.Tenant, se.Script = k.Tenant, k.Script
		s.note(CacheCompileError)
		return nil, ver, se
	}
	sc := &Script{Proto: proto, Chunk: f.Chunk, version: ver, template: tmpl}
	// Charged as if nothing were shared: a tenant's share must not depend
	// on what other tenants deployed.
	sc.bytes = tmpl.bytes + copyBytes(proto) + entryBytes + int64(len(f.Chunk))
	s.log.Debug("script compiled", "tenant", k.Tenant, "script", k.Script, "file", f.Chunk,
		"bytes", sc.bytes, "took", time.Since(start))
	return sc, ver, nil
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
func (s *Loader) insert(e *entry) *entry {
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
	if name := e.file.Group; name != "" {
		g := s.groups[name]
		if g == nil {
			g = &group{tenant: e.key.Tenant, id: e.file.GroupID}
			g.checked.Store(time.Now().UnixNano())
			s.groups[name] = g
		} else if g.id != e.file.GroupID {
			// Located in a new tree of the group: what was cached from
			// the old one goes, so no run mixes the two.
			g.id = e.file.GroupID
			if t := s.tenants[g.tenant]; t != nil {
				for old := range t.entries {
					if old != e && old.file.Group == name {
						s.remove(old)
					}
				}
			}
		}
		e.group = g
	}
	t := s.tenants[e.key.Tenant]
	if t == nil {
		t = &tenantCache{entries: map[*entry]struct{}{}}
		s.tenants[e.key.Tenant] = t
	}
	t.entries[e] = struct{}{}
	t.bytes += e.bytes
	s.bytes += e.bytes
	s.evict(e)
	return e
}

// remove forgets a cached entry; under s.mu.
func (s *Loader) remove(e *entry) {
	delete(s.entries, e.key)
	if t := s.tenants[e.key.Tenant]; t != nil {
		if _, ok := t.entries[e]; ok {
			delete(t.entries, e)
			t.bytes -= e.bytes
			s.bytes -= e.bytes
		}
		if len(t.entries) == 0 {
			delete(s.tenants, e.key.Tenant)
		}
	}
}

// resize recharges e after a new version; under s.mu.
func (s *Loader) resize(e *entry, bytes int64) {
	if s.entries[e.key] != e {
		e.bytes = bytes
		return
	}
	t := s.tenants[e.key.Tenant]
	t.bytes += bytes - e.bytes
	s.bytes += bytes - e.bytes
	e.bytes = bytes
	s.evict(e)
}

// evict brings the cache back within its bounds after keep was added or
// grew; keep itself stays. Under s.mu.
func (s *Loader) evict(keep *entry) {
	if t := s.tenants[keep.key.Tenant]; t != nil {
		for t.bytes > s.tenantBytes {
			v := oldest(t, keep)
			if v == nil {
				break // keep alone, bigger than the share
			}
			s.remove(v)
			s.note(CacheEvict)
		}
	}
	for s.bytes > s.maxBytes || len(s.entries) > s.max {
		// The tenant holding the most (bytes, or entries when over the
		// count) gives up its least recently used entry. The tenant is
		// found from a sample of entries, not of tenants: a tenant is in
		// the sample in proportion to the entries it holds, so the
		// tenants holding the most are the ones found, and a scan of every
		// tenant (milliseconds per insertion with 10,000 of them) is not
		// needed.
		var big *tenantCache
		byCount := s.bytes <= s.maxBytes
		n := 0
		for _, e := range s.entries {
			t := s.tenants[e.key.Tenant]
			if t == nil || len(t.entries) == 0 || (len(t.entries) == 1 && hasEntry(t, keep)) {
				continue
			}
			if big == nil || (byCount && len(t.entries) > len(big.entries)) || (!byCount && t.bytes > big.bytes) {
				big = t
			}
			// A tenant with one entry is given up only when a longer
			// sample finds nobody holding more.
			if n++; n >= tenantSample && (len(big.entries) > 1 || n >= 8*tenantSample) {
				break
			}
		}
		if big == nil {
			return
		}
		s.remove(oldest(big, keep))
		s.note(CacheEvict)
	}
}

func hasEntry(t *tenantCache, e *entry) bool {
	_, ok := t.entries[e]
	return ok
}

// tenantSample is how many entries eviction looks at to find the tenant
// holding the most.
const tenantSample = 32

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

// refresh re-reads an entry after its file changed. Refreshes of one entry
// never run at once: one asked for while another runs makes that one go
// round again when it is done, so a burst of changes costs at most two
// compiles, and the last version of the file is the one compiled last.
func (s *Loader) refresh(e *entry) {
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
func (s *Loader) refreshOnce(e *entry) {
	f, err := s.src.Locate(e.key)
	if err != nil || f.ID != e.file.ID || f.Chunk != e.file.Chunk {
		s.drop(e)
		return
	}
	sc, ver, err := s.compile(e.key, f)
	if err != nil {
		var se *ScriptError
		var re *readError
		switch {
		case errors.Is(err, ErrNotFound):
			s.drop(e)
		case e.current.Load() == nil && !errors.As(err, &re) && errors.As(err, &se):
			e.failed.Store(&failure{err: se, version: ver})
			s.log.Error("script does not compile", "tenant", e.key.Tenant, "script", e.key.Script, "error", err.Error())
		default:
			s.log.Error("script does not compile; the last good version keeps serving",
				"tenant", e.key.Tenant, "script", e.key.Script, "error", err.Error())
		}
		return
	}
	old := e.current.Load()
	if old != nil && old.version == sc.version && !e.watched {
		return
	}
	if sc.version.Size == 0 && old != nil && old.version.Size > 0 {
		// Most likely caught between an editor's truncate and its write.
		// A script meant to do nothing can say so with "return".
		s.log.Warn("script file is empty; the previous version keeps serving",
			"tenant", e.key.Tenant, "script", e.key.Script, "file", f.Chunk)
		return
	}
	e.current.Store(sc)
	e.failed.Store(nil)
	s.mu.Lock()
	s.resize(e, sc.bytes)
	s.mu.Unlock()
	s.note(CacheSwap)
	s.log.Info("script reloaded", "tenant", e.key.Tenant, "script", e.key.Script, "file", f.Chunk)
}

func (s *Loader) drop(e *entry) {
	s.mu.Lock()
	if s.entries[e.key] == e {
		s.remove(e)
	}
	s.mu.Unlock()
}

// pollGroup checks, at most every pollEvery, whether the entry's group was
// replaced (a tenant folder renamed over, a tenant symlink switched), and if
// so drops it whole. Only a run's script asks (never a require), so a run
// loads its script and its modules from the same tree. (With inotify the
// watcher drops the group when the event comes, and a switch in the
// microseconds between a run's first load and a later require could still
// split them.)
func (s *Loader) pollGroup(e *entry) (dropped bool) {
	g := e.group
	if g == nil {
		return false
	}
	now := time.Now().UnixNano()
	last := g.checked.Load()
	if now-last < int64(pollEvery) || !g.checked.CompareAndSwap(last, now) {
		return false
	}
	if _, err := s.src.Version(e.file); errors.Is(err, ErrMoved) {
		s.dropGroup(e.file.Group)
		return true
	}
	return false
}

// poll re-checks an unwatched entry's file at most every pollEvery.
func (s *Loader) poll(e *entry) {
	now := time.Now().UnixNano()
	last := e.checked.Load()
	if now-last < int64(pollEvery) || !e.checked.CompareAndSwap(last, now) {
		return
	}
	v, err := s.src.Version(e.file)
	cur := e.current.Load()
	if cur == nil {
		// A failed entry: try again when the file is not the one that failed.
		f := e.failed.Load()
		if err != nil || f == nil || v != f.version {
			s.refresh(e)
		}
		return
	}
	if errors.Is(err, ErrMoved) && e.group != nil {
		return // pollGroup's business: the group goes as one
	}
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrMoved) {
		s.drop(e)
		return
	}
	if err != nil || v != cur.version {
		s.refresh(e)
	}
}

// changed is what the source calls when a file may have changed: a
// group's name (a tenant folder) drops the group's entries at once, every
// entry one of whose names it is is refreshed, and "" drops them all.
func (s *Loader) changed(name string) {
	if name == "" {
		s.dropAll()
		return
	}
	if s.dropGroup(name) {
		return
	}
	for _, e := range s.affected(name) {
		s.refresh(e)
	}
}

// dropGroup forgets every entry of a group (a tenant folder replaced), so
// that the next requests load the tenant afresh; it reports whether there
// were any.
func (s *Loader) dropGroup(group string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groups[group]
	if !ok {
		return false
	}
	tenant := g.tenant
	dropped := false
	if t := s.tenants[tenant]; t != nil {
		for e := range t.entries {
			if e.file.Group == group {
				s.remove(e)
				dropped = true
			}
		}
	}
	if dropped {
		s.log.Info("tenant folder replaced; its scripts load afresh", "tenant", tenant, "folder", group)
	}
	return dropped
}

// affected lists the entries a change to name may concern.
func (s *Loader) affected(name string) []*entry {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*entry
	for _, e := range s.entries {
		for _, n := range e.file.Names {
			if n == name {
				out = append(out, e)
				break
			}
		}
	}
	return out
}

// dropAll forgets every entry, after the watcher lost events.
func (s *Loader) dropAll() {
	s.mu.Lock()
	s.entries = map[scriptKey]*entry{}
	s.tenants = map[string]*tenantCache{}
	s.bytes = 0
	s.mu.Unlock()
}
