package deploy

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/dialua/dialua/runtime/loader"
)

// Disk is the embedded Store: releases in files under a data directory,
// surviving restarts. Its layout (docs/releases.md):
//
//	<data>/releases/LOCK                              held (flock) by the one process using the store
//	<data>/releases/tmp/                              releases being written; emptied at open
//	<data>/releases/tenants/<tenant>/state.json       {"active": id, "canary": {"release": id, "percent": n}}
//	<data>/releases/tenants/<tenant>/<id>/release.json  the Release (id, version, hash, created, message, files)
//	<data>/releases/tenants/<tenant>/<id>/files/<path>  the files
//
// A release is written whole under tmp/, every file and folder fsynced,
// then renamed into its tenant's folder: a crash leaves it either absent
// or complete. state.json is replaced the same way (write, fsync, rename,
// fsync the folder). Everything but the files' bytes is also held in
// memory, so only ReadFile reads the disk.
type Disk struct {
	dir  string // <data>/releases
	log  *slog.Logger
	lock *os.File

	cmu     sync.Mutex // one Create or RemoveTenant at a time
	mu      sync.Mutex // the fields below
	closed  bool
	tenants map[string]*diskTenant

	subscribers // Subscribe, and notify of changes
}

type diskTenant struct {
	releases []Release // by version
	state    State
}

func (t *diskTenant) find(id string) (Release, bool) {
	for _, r := range t.releases {
		if r.ID == id {
			return r, true
		}
	}
	return Release{}, false
}

// OpenDisk opens (creating it if needed) the release store under the data
// directory data, and loads every tenant's releases and state. Only one
// process may have a data directory open; a second gets an error. A nil
// log discards.
func OpenDisk(data string, log *slog.Logger) (*Disk, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(filepath.Join(data, "releases"))
	if err != nil {
		return nil, err
	}
	for _, d := range []string{dir, filepath.Join(dir, "tmp"), filepath.Join(dir, "tenants")} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("release store: %w", err)
		}
	}
	lock, err := os.OpenFile(filepath.Join(dir, "LOCK"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("release store: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("release store %s is in use by another process (%v)", dir, err)
	}
	d := &Disk{dir: dir, log: log, lock: lock, tenants: map[string]*diskTenant{}}
	// What a crash left half-written was never visible: drop it.
	tmp := filepath.Join(dir, "tmp")
	if ents, err := os.ReadDir(tmp); err == nil {
		for _, e := range ents {
			os.RemoveAll(filepath.Join(tmp, e.Name()))
		}
	}
	if err := d.load(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func (d *Disk) tenantDir(tenant string) string { return filepath.Join(d.dir, "tenants", tenant) }

func (d *Disk) load() error {
	ents, err := os.ReadDir(filepath.Join(d.dir, "tenants"))
	if err != nil {
		return fmt.Errorf("release store: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if !e.IsDir() || !ValidTenant(name) {
			continue
		}
		t := &diskTenant{}
		rents, err := os.ReadDir(d.tenantDir(name))
		if err != nil {
			return fmt.Errorf("release store: %w", err)
		}
		for _, re := range rents {
			if !re.IsDir() {
				continue
			}
			if _, err := ParseID(re.Name()); err != nil {
				continue
			}
			b, err := os.ReadFile(filepath.Join(d.tenantDir(name), re.Name(), "release.json"))
			if err != nil {
				d.log.Warn("release store: release folder without a readable release.json; ignored", "tenant", name, "release", re.Name(), "err", err)
				continue
			}
			var r Release
			if err := json.Unmarshal(b, &r); err != nil || r.ID != re.Name() {
				d.log.Warn("release store: release.json unreadable or not this release's; ignored", "tenant", name, "release", re.Name())
				continue
			}
			t.releases = append(t.releases, r)
		}
		slices.SortFunc(t.releases, func(a, b Release) int { return cmp.Compare(a.Version, b.Version) })
		if b, err := os.ReadFile(filepath.Join(d.tenantDir(name), "state.json")); err == nil {
			if err := json.Unmarshal(b, &t.state); err != nil {
				return fmt.Errorf("release store: %s/state.json: %w", name, err)
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("release store: %w", err)
		}
		if _, ok := t.find(t.state.Active); t.state.Active != "" && !ok {
			d.log.Error("release store: the active release is missing; the tenant has none active", "tenant", name, "release", t.state.Active)
			t.state = State{}
		}
		if c := t.state.Canary; c != nil {
			if _, ok := t.find(c.Release); !ok {
				t.state.Canary = nil
			}
		}
		if len(t.releases) > 0 {
			d.tenants[name] = t
		}
	}
	return nil
}

// Close releases the data directory.
func (d *Disk) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	return d.lock.Close()
}

func (d *Disk) begin(ctx context.Context, tenant string) error {
	if err := checkTenant(tenant); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// Create: see Store. Creates run one at a time; the files are written and
// fsynced without holding the lock readers take.
func (d *Disk) Create(ctx context.Context, tenant string, files Files, message string) (Release, error) {
	if len(files) == 0 {
		return Release{}, refuse("", "a release needs at least one file")
	}
	for p, b := range files {
		if q, err := entryPath(p); err != nil || q != p || p == "" {
			return Release{}, refuse(p, "not a valid path in a tenant's tree")
		}
		if len(b) > loader.MaxScriptBytes {
			return Release{}, refuse(p, "is %d bytes; a script or module may be at most %d", len(b), loader.MaxScriptBytes)
		}
	}
	d.cmu.Lock()
	defer d.cmu.Unlock()
	if err := d.begin(ctx, tenant); err != nil {
		return Release{}, err
	}
	version := 1
	if t := d.tenants[tenant]; t != nil && len(t.releases) > 0 {
		version = t.releases[len(t.releases)-1].Version + 1
	}
	d.mu.Unlock()
	hash := ContentHash(files)
	r := Release{ID: MakeID(version, hash), Version: version, Hash: hash,
		Created: time.Now().UTC().Truncate(time.Millisecond), Message: message, Files: infos(files)}
	stage, err := d.stage(r, files)
	if err != nil {
		return Release{}, fmt.Errorf("release store: writing the release: %w", err)
	}
	if err := d.begin(ctx, tenant); err != nil {
		os.RemoveAll(stage)
		return Release{}, err
	}
	err = d.commit(tenant, stage, r)
	d.mu.Unlock()
	if err != nil {
		os.RemoveAll(stage)
		return Release{}, fmt.Errorf("release store: %w", err)
	}
	d.notify(tenant)
	return r, nil
}

// commit renames a staged release into its tenant's folder; d.mu held.
func (d *Disk) commit(tenant, stage string, r Release) error {
	tdir := d.tenantDir(tenant)
	if err := mkdirSync(tdir); err != nil {
		return err
	}
	if err := os.Rename(stage, filepath.Join(tdir, r.ID)); err != nil {
		return err
	}
	if err := syncDir(tdir); err != nil {
		return err
	}
	t := d.tenants[tenant]
	if t == nil {
		t = &diskTenant{}
		d.tenants[tenant] = t
	}
	t.releases = append(t.releases, r)
	return nil
}

// stage writes a release under tmp/ and returns its folder.
func (d *Disk) stage(r Release, files Files) (string, error) {
	var rnd [8]byte
	rand.Read(rnd[:])
	stage := filepath.Join(d.dir, "tmp", r.ID+"."+hex.EncodeToString(rnd[:]))
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(stage)
		}
	}()
	fdir := filepath.Join(stage, "files")
	if err := os.MkdirAll(fdir, 0o750); err != nil {
		return "", err
	}
	dirs := map[string]bool{stage: true, fdir: true}
	for _, p := range files.Paths() {
		full := filepath.Join(fdir, filepath.FromSlash(p))
		parent := filepath.Dir(full)
		if !dirs[parent] {
			if err := os.MkdirAll(parent, 0o750); err != nil {
				return "", err
			}
			for q := parent; !dirs[q]; q = filepath.Dir(q) {
				dirs[q] = true
			}
		}
		if err := writeSync(full, files[p]); err != nil {
			return "", err
		}
	}
	meta, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	if err := writeSync(filepath.Join(stage, "release.json"), meta); err != nil {
		return "", err
	}
	// Deepest first, so each folder's entries are durable before its
	// parent's.
	all := make([]string, 0, len(dirs))
	for q := range dirs {
		all = append(all, q)
	}
	sort.Slice(all, func(i, j int) bool { return len(all[i]) > len(all[j]) })
	for _, q := range all {
		if err := syncDir(q); err != nil {
			return "", err
		}
	}
	ok = true
	return stage, nil
}

func writeSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	f.Close()
	return err
}

// mkdirSync makes a tenant's folder, durably, if it is not there.
func mkdirSync(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := os.Mkdir(dir, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(filepath.Dir(dir))
}

// Releases: see Store.
func (d *Disk) Releases(ctx context.Context, tenant string) ([]Release, error) {
	if err := d.begin(ctx, tenant); err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	t := d.tenants[tenant]
	if t == nil {
		return []Release{}, nil
	}
	return slices.Clone(t.releases), nil
}

// Release: see Store.
func (d *Disk) Release(ctx context.Context, tenant, id string) (Release, error) {
	if _, err := ParseID(id); err != nil {
		return Release{}, err
	}
	if err := d.begin(ctx, tenant); err != nil {
		return Release{}, err
	}
	defer d.mu.Unlock()
	return d.release(tenant, id)
}

// release finds a release; d.mu held.
func (d *Disk) release(tenant, id string) (Release, error) {
	t := d.tenants[tenant]
	if t == nil {
		return Release{}, fmt.Errorf("%w: %s", ErrNoTenant, tenant)
	}
	r, ok := t.find(id)
	if !ok {
		return Release{}, fmt.Errorf("%w: %s has no release %s", ErrNoRelease, tenant, id)
	}
	return r, nil
}

// ReadFile: see Store. The file is opened through an os.Root on the
// release's files folder.
func (d *Disk) ReadFile(ctx context.Context, tenant, id, path string) ([]byte, error) {
	if _, err := ParseID(id); err != nil {
		return nil, err
	}
	if p, err := entryPath(path); err != nil || p != path || p == "" {
		return nil, fmt.Errorf("%w: %q", ErrNoFile, path)
	}
	if err := d.begin(ctx, tenant); err != nil {
		return nil, err
	}
	_, err := d.release(tenant, id)
	d.mu.Unlock()
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(filepath.Join(d.tenantDir(tenant), id, "files"))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s has no release %s", ErrNoRelease, tenant, id)
		}
		return nil, err
	}
	defer root.Close()
	b, err := root.ReadFile(filepath.FromSlash(path))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s in %s/%s", ErrNoFile, path, tenant, id)
	}
	return b, err
}

// State: see Store.
func (d *Disk) State(ctx context.Context, tenant string) (State, error) {
	if err := d.begin(ctx, tenant); err != nil {
		return State{}, err
	}
	defer d.mu.Unlock()
	t := d.tenants[tenant]
	if t == nil {
		return State{}, nil
	}
	s := t.state
	if s.Canary != nil {
		c := *s.Canary
		s.Canary = &c
	}
	return s, nil
}

// Activate: see Store.
func (d *Disk) Activate(ctx context.Context, tenant, id string) error {
	if _, err := ParseID(id); err != nil {
		return err
	}
	return d.setState(ctx, tenant, func(t *diskTenant) (State, error) {
		if _, ok := t.find(id); !ok {
			return State{}, fmt.Errorf("%w: %s has no release %s", ErrNoRelease, tenant, id)
		}
		return State{Active: id}, nil
	})
}

// SetCanary: see Store.
func (d *Disk) SetCanary(ctx context.Context, tenant, id string, percent int) error {
	if id != "" && percent != 0 {
		if _, err := ParseID(id); err != nil {
			return err
		}
		if percent < 1 || percent > 99 {
			return fmt.Errorf("%w: canary percent %d: use 1 to 99 (activate the release for 100)", ErrConflict, percent)
		}
	}
	return d.setState(ctx, tenant, func(t *diskTenant) (State, error) {
		s := State{Active: t.state.Active}
		if id == "" || percent == 0 {
			return s, nil
		}
		if _, ok := t.find(id); !ok {
			return State{}, fmt.Errorf("%w: %s has no release %s", ErrNoRelease, tenant, id)
		}
		if s.Active == "" {
			return State{}, fmt.Errorf("%w: %s has no active release for the rest of the calls; activate one first", ErrConflict, tenant)
		}
		if s.Active == id {
			return State{}, fmt.Errorf("%w: %s is already the active release", ErrConflict, id)
		}
		s.Canary = &Canary{Release: id, Percent: percent}
		return s, nil
	})
}

func (d *Disk) setState(ctx context.Context, tenant string, change func(*diskTenant) (State, error)) error {
	if err := d.begin(ctx, tenant); err != nil {
		return err
	}
	t := d.tenants[tenant]
	if t == nil {
		d.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNoTenant, tenant)
	}
	s, err := change(t)
	if err == nil {
		err = d.writeState(tenant, s)
	}
	if err == nil {
		t.state = s
	}
	d.mu.Unlock()
	if err != nil {
		return err
	}
	d.notify(tenant)
	return nil
}

func (d *Disk) writeState(tenant string, s State) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	tdir := d.tenantDir(tenant)
	tmp := filepath.Join(tdir, "state.json.tmp")
	os.Remove(tmp)
	if err := writeSync(tmp, b); err != nil {
		return fmt.Errorf("release store: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(tdir, "state.json")); err != nil {
		return fmt.Errorf("release store: %w", err)
	}
	if err := syncDir(tdir); err != nil {
		return fmt.Errorf("release store: %w", err)
	}
	return nil
}

// RemoveTenant: see Store. The tenant's folder is renamed under tmp/ at
// once (the tenant is gone as of that rename), then deleted.
func (d *Disk) RemoveTenant(ctx context.Context, tenant string) error {
	d.cmu.Lock()
	defer d.cmu.Unlock()
	if err := d.begin(ctx, tenant); err != nil {
		return err
	}
	if d.tenants[tenant] == nil {
		d.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrNoTenant, tenant)
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	gone := filepath.Join(d.dir, "tmp", "removed."+tenant+"."+hex.EncodeToString(rnd[:]))
	err := os.Rename(d.tenantDir(tenant), gone)
	if err == nil {
		err = syncDir(filepath.Join(d.dir, "tenants"))
		delete(d.tenants, tenant)
	}
	d.mu.Unlock()
	if err != nil {
		return fmt.Errorf("release store: %w", err)
	}
	d.notify(tenant)
	if err := os.RemoveAll(gone); err != nil {
		d.log.Warn("release store: removing a tenant's files", "tenant", tenant, "err", err)
	}
	return nil
}

// Tenants: see Store.
func (d *Disk) Tenants(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, ErrClosed
	}
	out := make([]string, 0, len(d.tenants))
	for t := range d.tenants {
		out = append(out, t)
	}
	sort.Strings(out)
	return out, nil
}
