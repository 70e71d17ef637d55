package engine

import (
	"errors"

	"github.com/dialua/dialua/runtime/loader"
)

// The loader's errors and error type, under the names an embedder of the
// engine uses.
var (
	// ErrBadPath: the tenant or script name breaks the path rules.
	ErrBadPath = loader.ErrBadPath
	// ErrNotFound: no script file for that path.
	ErrNotFound = loader.ErrNotFound
	// ErrBusy: no VM became free before the run's deadline.
	ErrBusy = errors.New("all VMs busy")
	// ErrTenantBusy: the tenant already has its maximum of runs in flight.
	ErrTenantBusy = errors.New("tenant at its limit of concurrent runs")
)

// ScriptError is a failure inside a script: what an operator needs to find
// it (see loader.ScriptError).
type ScriptError = loader.ScriptError

// ErrorKind says how a run failed.
type ErrorKind = loader.ErrorKind

const (
	KindCompile = loader.KindCompile // the script (or a module) does not compile, or cannot be read
	KindRuntime = loader.KindRuntime // the script raised an error
	KindTimeout = loader.KindTimeout // the script ran past its deadline
	KindMemory  = loader.KindMemory  // stopped for the memory it held
)

// ValidScriptPath checks a tenant name and a script path inside it (see
// loader.ValidScriptPath).
func ValidScriptPath(tenant, script string) bool { return loader.ValidScriptPath(tenant, script) }
