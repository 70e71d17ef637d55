package runtime

import (
	"os"
	"path/filepath"
	"strings"
)

// validSegment is the whole path grammar: letters, digits, '.', '_' and '-',
// not starting with a dot. That one rule keeps out "..", hidden files and
// anything needing escaping.
func validSegment(s string) bool {
	if s == "" || s[0] == '.' || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

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

// located is a script file found on disk.
type located struct {
	root  string // the tenant's real folder
	rel   string // the resolved file, relative to root
	file  string // path under the scripts root as the tenant laid it out
	real  string // after symlinks; inside the tenant's real folder
	chunk string // name in errors: tenant/relative/path.lua
	alt   string // the other candidate file whose appearance changes the answer
}

// locate finds the file for a script path: <root>/<tenant>/<script>.lua, or
// <root>/<tenant>/<script>/index.lua for a folder (and the tenant's
// index.lua for an empty script). A file whose real path leaves the tenant's
// real folder, through a symlink anywhere on the way, does not count.
func (s *store) locate(tenant, script string, module bool) (located, error) {
	tenantDir := filepath.Join(s.root, tenant)
	var candidates []string
	if module {
		candidates = []string{filepath.Join(tenantDir, ModulesDir, filepath.FromSlash(script)+".lua")}
	} else {
		if script == ModulesDir || strings.HasPrefix(script, ModulesDir+"/") {
			return located{}, ErrNotFound
		}
		if script != "" {
			candidates = append(candidates, filepath.Join(tenantDir, filepath.FromSlash(script)+".lua"))
		}
		candidates = append(candidates, filepath.Join(tenantDir, filepath.FromSlash(script), "index.lua"))
	}
	realTenant, err := filepath.EvalSymlinks(tenantDir)
	if err != nil {
		return located{}, ErrNotFound
	}
	for i, file := range candidates {
		real, err := filepath.EvalSymlinks(file)
		if err != nil {
			continue
		}
		if !strings.HasPrefix(real, realTenant+string(filepath.Separator)) {
			s.log.Warn("script path leaves its tenant folder; refused", "tenant", tenant, "file", file, "target", real)
			continue
		}
		if fi, err := os.Stat(real); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		rel, _ := filepath.Rel(s.root, file)
		// The resolved path, relative to the tenant's real folder: no links
		// left in it when it was checked (see compileFile).
		inTenant, _ := filepath.Rel(realTenant, real)
		loc := located{root: realTenant, rel: inTenant, file: file, real: real, chunk: filepath.ToSlash(rel)}
		if i == len(candidates)-1 && i > 0 {
			loc.alt = candidates[0]
		}
		return loc, nil
	}
	return located{}, ErrNotFound
}
