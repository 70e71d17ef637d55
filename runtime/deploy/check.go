package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/dialua/dialua/runtime/loader"
)

// CheckError is a release refused because files do not compile: every
// failure, in path order, each as "tenant/path.lua:LINE: message".
type CheckError struct {
	Tenant string
	Errors []*loader.ScriptError
}

func (e *CheckError) Error() string {
	var b strings.Builder
	b.WriteString("release refused: ")
	b.WriteString(plural(len(e.Errors), "file does", "files do"))
	b.WriteString(" not compile")
	for _, se := range e.Errors {
		b.WriteString("\n")
		b.WriteString(se.Error())
	}
	return b.String()
}

// Lines are the errors as "tenant/path.lua:LINE: message", one each.
func (e *CheckError) Lines() []string {
	out := make([]string, len(e.Errors))
	for i, se := range e.Errors {
		out[i] = se.Error()
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// Check compiles every file of a release as the server would (the compile
// limits of sandbox.Compile included): nil when all compile, else a
// *CheckError with every failure; or ctx's error if it ends first.
func Check(ctx context.Context, tenant string, files Files) error {
	if err := checkTenant(tenant); err != nil {
		return err
	}
	errs, err := loader.CheckFiles(ctx, tenant, files)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return &CheckError{Tenant: tenant, Errors: errs}
	}
	return nil
}

// Publish checks files and, when every one compiles, stores them as the
// tenant's next release (not activated). A *CheckError leaves the store
// untouched.
func Publish(ctx context.Context, st Store, tenant string, files Files, message string) (Release, error) {
	if err := keepWithin(ctx, st, tenant, files); err != nil {
		return Release{}, err
	}
	if err := Check(ctx, tenant, files); err != nil {
		return Release{}, err
	}
	return st.Create(ctx, tenant, files, message)
}

// What one tenant's releases may hold in the store, all releases together:
// a tenant with its own deploy token must not fill the store's disk (or
// Redis) for everyone. Releases are immutable and every one can be rolled
// back to, so the store never prunes them itself; past a bound, uploads are
// refused until the operator removes the tenant's history.
const (
	MaxReleasesPerTenant = 200
	MaxTenantStoreBytes  = 512 << 20
)

// ErrTenantFull: the tenant's releases are at a bound of the store.
var ErrTenantFull = errors.New("the tenant's releases fill its share of the release store")

func keepWithin(ctx context.Context, st Store, tenant string, files Files) error {
	rels, err := st.Releases(ctx, tenant)
	if err != nil && !errors.Is(err, ErrNoTenant) {
		return err
	}
	if len(rels) >= MaxReleasesPerTenant {
		return fmt.Errorf("%w: %d releases, the most one tenant may keep (ask the operator to remove old ones)", ErrTenantFull, len(rels))
	}
	var total int64
	for _, b := range files {
		total += int64(len(b))
	}
	for _, r := range rels {
		for _, f := range r.Files {
			total += f.Size
		}
	}
	if total > MaxTenantStoreBytes {
		return fmt.Errorf("%w: %d bytes with this release, over the %d one tenant may keep (ask the operator to remove old ones)", ErrTenantFull, total, int64(MaxTenantStoreBytes))
	}
	return nil
}

// Upload is what a deploy does: read a tar.gz bundle within lim
// (*BundleError), compile it whole (*CheckError), and store it as the
// tenant's next release, not yet active.
func Upload(ctx context.Context, st Store, tenant string, body io.Reader, lim Limits, message string) (Release, error) {
	if err := checkTenant(tenant); err != nil {
		return Release{}, err
	}
	files, err := ReadBundle(body, lim)
	if err != nil {
		return Release{}, err
	}
	return Publish(ctx, st, tenant, files, message)
}
