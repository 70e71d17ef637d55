package tenant

import (
	"github.com/dialua/dialua/runtime/internal/filestamp"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// recheck is how often the file's modification time is looked at; settle is
// how old a change must be before it is read.
const (
	recheck = time.Second
	settle  = 200 * time.Millisecond
)

// Registry serves the current configuration of every tenant and picks up
// changes to the file within a second, without a restart.
type Registry struct {
	path string
	log  *slog.Logger

	cur     atomic.Pointer[snapshot]
	checked atomic.Int64
	mu      sync.Mutex // one reload at a time
	statErr string     // the last error looking at the file, logged once; under mu
}

type snapshot struct {
	file    *File
	configs sync.Map // tenant name -> *Config for tenants the file names, filled on first use

	defaultsOnce sync.Once
	defaults     *Config // what every other tenant gets
	stamp        filestamp.Stamp
}

// NewRegistry reads the file at path; a missing file means defaults for
// everyone. A file that exists but does not parse is an error at start-up.
func NewRegistry(path string, log *slog.Logger) (*Registry, error) {
	r := &Registry{path: path, log: log}
	s, err := r.read()
	if err != nil {
		return nil, err
	}
	r.cur.Store(s)
	r.checked.Store(time.Now().UnixNano())
	return r, nil
}

func (r *Registry) read() (*snapshot, error) {
	if r.path == "" {
		return &snapshot{file: &File{}}, nil
	}
	st, err := filestamp.Stat(r.path)
	if os.IsNotExist(err) {
		return &snapshot{file: &File{}}, nil
	}
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(r.path)
	if err != nil {
		return nil, err
	}
	f, err := Parse(b)
	if err != nil {
		return nil, &os.PathError{Op: "parse", Path: r.path, Err: err}
	}
	return &snapshot{file: f, stamp: st}, nil
}

// Get returns a tenant's configuration. It is cheap: the file is looked at
// again at most once a second.
func (r *Registry) Get(name string) *Config {
	now := time.Now().UnixNano()
	if last := r.checked.Load(); now-last > int64(recheck) && r.checked.CompareAndSwap(last, now) {
		r.reload()
	}
	s := r.cur.Load()
	if _, listed := s.file.Tenants[name]; !listed {
		// Every tenant the file does not name has the defaults: one shared
		// value, so that requests for made-up tenant names (which anyone
		// can send) cost the registry nothing.
		s.defaultsOnce.Do(func() { s.defaults = s.file.For(name) })
		return s.defaults
	}
	if c, ok := s.configs.Load(name); ok {
		return c.(*Config)
	}
	c := s.file.For(name)
	s.configs.Store(name, c)
	return c
}

// Reload reads the file now, whatever its modification time says (an
// operator's SIGHUP), and returns how many tenants it names. When the file
// does not load, the configuration in force stays and the error says why;
// a missing file means defaults for everyone, as at start.
func (r *Registry) Reload() (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, err := r.read()
	if err != nil {
		return 0, err
	}
	r.cur.Store(s)
	r.checked.Store(time.Now().UnixNano())
	return len(s.file.Tenants), nil
}

func (r *Registry) reload() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.path == "" {
		return
	}
	old := r.cur.Load()
	st, err := filestamp.Stat(r.path)
	if err == nil || os.IsNotExist(err) {
		r.statErr = ""
	}
	switch {
	case os.IsNotExist(err):
		if old.stamp != (filestamp.Stamp{}) {
			r.log.Info("tenants file removed; every tenant has the defaults", "file", r.path)
			r.cur.Store(&snapshot{file: &File{}})
		}
		return
	case err != nil:
		// Permissions or I/O: the configuration in force stays, and the
		// operator hears of it once per distinct error.
		if msg := err.Error(); msg != r.statErr {
			r.statErr = msg
			r.log.Error("cannot read the tenants file; the configuration in force stays", "file", r.path, "error", msg)
		}
		return
	case st == old.stamp:
		return
	case st.Age() < settle:
		// Possibly still being written (an editor truncates first): look
		// again at the next check rather than apply half a file.
		r.checked.Store(time.Now().Add(-recheck + settle).UnixNano())
		return
	}
	s, err := r.read()
	if err != nil {
		r.log.Error("tenants file does not parse; the previous version stays in force", "file", r.path, "error", err.Error())
		// Remember this version so the error is logged once, not every second.
		bad := &snapshot{file: old.file, stamp: st}
		r.cur.Store(bad)
		return
	}
	r.cur.Store(s)
	r.log.Info("tenants file reloaded", "file", r.path, "tenants", len(s.file.Tenants))
}
