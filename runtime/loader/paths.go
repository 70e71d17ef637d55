package loader

import (
	"strings"

	"github.com/dialua/dialua/runtime/internal/pathname"
)

// validSegment is the whole path grammar (runtime/internal/pathname, shared
// with the tenants file): letters, digits, '.', '_' and '-', not starting
// with a dot. That one rule keeps out "..", hidden files and anything
// needing escaping.
func validSegment(s string) bool { return pathname.ValidSegment(s) }

// ValidScriptPath checks a tenant name and a script path inside it ("" for
// the tenant's index, segments separated by '/').
func ValidScriptPath(tenant, script string) bool {
	if !validSegment(tenant) {
		return false
	}
	if script == "" {
		return true
	}
	if len(script) > 1024 {
		return false
	}
	for script != "" {
		seg := script
		if i := strings.IndexByte(script, '/'); i >= 0 {
			seg, script = script[:i], script[i+1:]
			if script == "" {
				return false // trailing slash: an empty last segment
			}
		} else {
			script = ""
		}
		if !validSegment(seg) {
			return false
		}
	}
	return true
}

// ModulesDir is the folder in a tenant's tree that require() reads and that
// is never served as a URL.
const ModulesDir = "lib"

// MaxScriptBytes is the largest script or module file dialua compiles.
// Compiling is paid outside any run's deadline, so its cost must be bounded.
const MaxScriptBytes = 1 << 20
