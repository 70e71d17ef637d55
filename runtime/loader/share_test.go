package loader

import (
	"strings"
	"testing"
)

// Files with the same bytes share one compiled form, but each keeps its
// own name (what errors and tracebacks carry), and changing one tenant's
// copy changes nobody else's.
func TestIdenticalFilesShareCompiledForm(t *testing.T) {
	src := "local function f(x)\n  return x.missing.field\nend\nreturn f\n"
	l := newTestStore(t, map[string]string{"a/s.lua": src, "b/s.lua": src, "c/s.lua": src + "-- c's own\n"}, 100, 1<<30, 1<<30)
	a, err := l.Get(Name{Tenant: "a", Script: "s"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := l.Get(Name{Tenant: "b", Script: "s"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := l.Get(Name{Tenant: "c", Script: "s"})
	if err != nil {
		t.Fatal(err)
	}
	if a.template != b.template || a.template == c.template {
		t.Fatalf("templates: a %p b %p c %p", a.template, b.template, c.template)
	}
	if a.Proto == b.Proto || &a.Proto.Code[0] != &b.Proto.Code[0] {
		t.Fatal("want distinct protos over shared code")
	}
	for name, sc := range map[string]*Script{"a/s.lua": a, "b/s.lua": b, "c/s.lua": c} {
		if sc.Proto.SourceName != name || sc.Proto.FunctionPrototypes[0].SourceName != name {
			t.Errorf("%s: source names %q, %q", name, sc.Proto.SourceName, sc.Proto.FunctionPrototypes[0].SourceName)
		}
	}
	// Charged as if unshared.
	if a.bytes < a.template.bytes || b.bytes < b.template.bytes {
		t.Errorf("charged %d and %d for a compiled form of %d", a.bytes, b.bytes, a.template.bytes)
	}
	if !strings.HasPrefix(a.Chunk, "a/") || !strings.HasPrefix(b.Chunk, "b/") {
		t.Errorf("chunks %q %q", a.Chunk, b.Chunk)
	}
}
