package deploy

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dialua/dialua/runtime/loader"
)

// Release is one immutable release of a tenant, as stored.
type Release struct {
	ID      string     `json:"id"`      // "7-3fa9c2e1": Version, '-', the first 8 hex digits of Hash
	Version int        `json:"version"` // 1, 2, ... per tenant, never reused while the tenant exists
	Hash    string     `json:"hash"`    // SHA-256 (hex) of the files: see ContentHash
	Created time.Time  `json:"created"`
	Message string     `json:"message,omitempty"`
	Files   []FileInfo `json:"files"` // in path order
}

// FileInfo is one file of a release.
type FileInfo struct {
	Path   string `json:"path"` // inside the tenant's tree: "ivr.lua", "lib/util.lua"
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// State is which of a tenant's releases serve: Active for every request
// not sent to the canary; Canary, when set, for its share of new calls.
// The zero State (no active release) leaves the tenant to the scripts
// folder.
type State struct {
	Active string  `json:"active,omitempty"`
	Canary *Canary `json:"canary,omitempty"`
}

// Canary sends Percent of new calls (1..99, sticky per call) to Release.
type Canary struct {
	Release string `json:"release"`
	Percent int    `json:"percent"`
}

// Errors of a Store. Each is wrapped with the tenant and id concerned;
// test with errors.Is.
var (
	ErrNoTenant  = errors.New("tenant has no releases")
	ErrNoRelease = errors.New("no such release")
	ErrNoFile    = errors.New("no such file in the release")
	ErrBadName   = errors.New("malformed tenant name or release id")
	ErrConflict  = errors.New("conflicting change") // e.g. a canary of the active release
	ErrClosed    = errors.New("release store closed")
)

// Store keeps releases per tenant and which of them serve. Disk is the
// embedded implementation, Redis (OpenRedis) the one several nodes share;
// both keep the same contract. Every method is safe for concurrent use.
type Store interface {
	// Create stores files as the tenant's next release (its version one
	// more than the last) and returns it; it does not activate it. The
	// files must have passed Check: Publish and Upload do both.
	Create(ctx context.Context, tenant string, files Files, message string) (Release, error)
	// Releases lists the tenant's releases, oldest first (none: an empty
	// list, no error).
	Releases(ctx context.Context, tenant string) ([]Release, error)
	// Release is one release's description (ErrNoRelease).
	Release(ctx context.Context, tenant, id string) (Release, error)
	// ReadFile returns one file of a release (ErrNoRelease, ErrNoFile).
	ReadFile(ctx context.Context, tenant, id, path string) ([]byte, error)
	// State is which releases serve the tenant (zero when none).
	State(ctx context.Context, tenant string) (State, error)
	// Activate makes a release the tenant's live one and ends any canary.
	Activate(ctx context.Context, tenant, id string) error
	// SetCanary sends percent (1..99) of new calls to release id, the rest
	// staying on the active release (which must exist and differ); id ""
	// or percent 0 ends the canary.
	SetCanary(ctx context.Context, tenant, id string, percent int) error
	// RemoveTenant forgets the tenant's releases and state: it is served
	// from the scripts folder again (if it has one there).
	RemoveTenant(ctx context.Context, tenant string) error
	// Tenants lists the tenants that have releases.
	Tenants(ctx context.Context) ([]string, error)
	// Subscribe calls fn with a tenant's name after its state or releases
	// changed (for Disk: before the call that changed them returns), or
	// with "" when any tenant may have changed. fn must not block long.
	// The returned func stops the calls.
	Subscribe(fn func(tenant string)) (cancel func())
	Close() error
}

// ContentHash is the SHA-256 of a release's files: for each file in path
// order, the path's length and bytes and the content's length and bytes
// (lengths as 8-byte big-endian integers). Two releases with the same
// files have the same hash, whatever their messages.
func ContentHash(files Files) string {
	h := sha256.New()
	var n [8]byte
	for _, p := range files.Paths() {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
		binary.BigEndian.PutUint64(n[:], uint64(len(files[p])))
		h.Write(n[:])
		h.Write(files[p])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// MakeID is a release's id from its version and content hash.
func MakeID(version int, hash string) string {
	return strconv.Itoa(version) + "-" + hash[:8]
}

// ParseID checks a release id ("7-3fa9c2e1") and returns its version.
func ParseID(id string) (int, error) {
	v, h, ok := strings.Cut(id, "-")
	n, err := strconv.Atoi(v)
	if !ok || err != nil || n < 1 || v[0] == '0' || len(h) != 8 || strings.Trim(h, "0123456789abcdef") != "" {
		return 0, fmt.Errorf("%w: release id %q (ids look like 7-3fa9c2e1)", ErrBadName, id)
	}
	return n, nil
}

// ValidTenant says whether a tenant name follows dialua's path rules.
func ValidTenant(tenant string) bool { return loader.ValidScriptPath(tenant, "") }

func checkTenant(tenant string) error {
	if !ValidTenant(tenant) {
		return fmt.Errorf("%w: tenant %q (letters, digits, '.', '_', '-'; not starting with a dot)", ErrBadName, tenant)
	}
	return nil
}

// infos describes files for a Release.
func infos(files Files) []FileInfo {
	out := make([]FileInfo, 0, len(files))
	for _, p := range files.Paths() {
		sum := sha256.Sum256(files[p])
		out = append(out, FileInfo{Path: p, Size: int64(len(files[p])), SHA256: hex.EncodeToString(sum[:])})
	}
	return out
}

// History is a tenant's releases (oldest first) and which serve.
type History struct {
	Tenant   string    `json:"tenant"`
	State              // active and canary ids
	Releases []Release `json:"releases"`
}

// GetHistory reads a tenant's history.
func GetHistory(ctx context.Context, st Store, tenant string) (History, error) {
	rs, err := st.Releases(ctx, tenant)
	if err != nil {
		return History{}, err
	}
	s, err := st.State(ctx, tenant)
	if err != nil {
		return History{}, err
	}
	return History{Tenant: tenant, State: s, Releases: rs}, nil
}

// Rollback activates an earlier release: to, or when to is "", the newest
// release older (by version) than the active one, so rollbacks repeated
// walk back one release each. It ends any canary and returns the release
// now active.
func Rollback(ctx context.Context, st Store, tenant, to string) (Release, error) {
	if to == "" {
		s, err := st.State(ctx, tenant)
		if err != nil {
			return Release{}, err
		}
		if s.Active == "" {
			return Release{}, fmt.Errorf("%w: %s has no active release to roll back from", ErrNoTenant, tenant)
		}
		cur, err := ParseID(s.Active)
		if err != nil {
			return Release{}, err
		}
		rs, err := st.Releases(ctx, tenant)
		if err != nil {
			return Release{}, err
		}
		for i := len(rs) - 1; i >= 0; i-- {
			if rs[i].Version < cur {
				to = rs[i].ID
				break
			}
		}
		if to == "" {
			return Release{}, fmt.Errorf("%w: %s has no release older than the active %s", ErrNoRelease, tenant, s.Active)
		}
	}
	r, err := st.Release(ctx, tenant, to)
	if err != nil {
		return Release{}, err
	}
	return r, st.Activate(ctx, tenant, to)
}

// Promote makes the tenant's canary release the active one.
func Promote(ctx context.Context, st Store, tenant string) (Release, error) {
	s, err := st.State(ctx, tenant)
	if err != nil {
		return Release{}, err
	}
	if s.Canary == nil {
		return Release{}, fmt.Errorf("%w: %s has no canary to promote", ErrConflict, tenant)
	}
	r, err := st.Release(ctx, tenant, s.Canary.Release)
	if err != nil {
		return Release{}, err
	}
	return r, st.Activate(ctx, tenant, r.ID)
}

// Diff is what changed from one release to another: paths in path order.
type Diff struct {
	From    string   `json:"from"`
	To      string   `json:"to"`
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
	Changed []string `json:"changed"`
}

// DiffReleases compares two releases of a tenant by their files' hashes.
func DiffReleases(ctx context.Context, st Store, tenant, from, to string) (Diff, error) {
	a, err := st.Release(ctx, tenant, from)
	if err != nil {
		return Diff{}, err
	}
	b, err := st.Release(ctx, tenant, to)
	if err != nil {
		return Diff{}, err
	}
	d := Diff{From: from, To: to, Added: []string{}, Removed: []string{}, Changed: []string{}}
	old := map[string]string{}
	for _, f := range a.Files {
		old[f.Path] = f.SHA256
	}
	for _, f := range b.Files {
		sum, ok := old[f.Path]
		switch {
		case !ok:
			d.Added = append(d.Added, f.Path)
		case sum != f.SHA256:
			d.Changed = append(d.Changed, f.Path)
		}
		delete(old, f.Path)
	}
	for _, f := range a.Files {
		if _, ok := old[f.Path]; ok {
			d.Removed = append(d.Removed, f.Path)
		}
	}
	return d, nil
}
