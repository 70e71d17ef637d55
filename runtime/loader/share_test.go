package loader

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"

	lua "github.com/yuin/gopher-lua"
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

// Files that differ only in a constant share their code and debug
// information, and still answer and fail with their own constants and names.
func TestFilesDifferingInConstantsShareCode(t *testing.T) {
	src := "local who = %q\nlocal function f(x)\n  return x.missing.field\nend\nreturn who\n"
	l := newTestStore(t, map[string]string{
		"a/s.lua": fmt.Sprintf(src, "alice"),
		"b/s.lua": fmt.Sprintf(src, "bob"),
		"c/s.lua": "local extra = 1\n" + fmt.Sprintf(src, "carol"),
	}, 100, 1<<30, 1<<30)
	get := func(tenant string) *Script {
		sc, err := l.Get(Name{Tenant: tenant, Script: "s"})
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}
	a, b, c := get("a"), get("b"), get("c")
	if a.template == b.template {
		t.Fatal("different bytes, one template")
	}
	if &a.Proto.Code[0] != &b.Proto.Code[0] || &a.Proto.FunctionPrototypes[0].Code[0] != &b.Proto.FunctionPrototypes[0].Code[0] ||
		&a.Proto.DbgSourcePositions[0] != &b.Proto.DbgSourcePositions[0] || &a.Proto.DbgLocals[0] != &b.Proto.DbgLocals[0] {
		t.Error("a and b do not share their code")
	}
	if &a.Proto.Code[0] == &c.Proto.Code[0] {
		t.Error("c's code differs but is shared")
	}
	if a.Proto.Constants[0] != lua.LString("alice") || b.Proto.Constants[0] != lua.LString("bob") {
		t.Errorf("constants %v and %v", a.Proto.Constants[0], b.Proto.Constants[0])
	}
	for name, sc := range map[string]*Script{"a": a, "b": b} {
		L := lua.NewState()
		fn := L.NewFunctionFromProto(sc.Proto)
		L.Push(fn)
		if err := L.PCall(0, 1, nil); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"a": "alice", "b": "bob"}[name]
		if got := L.Get(-1).String(); got != want {
			t.Errorf("%s's script returns %q, want %q", name, got, want)
		}
		L.Close()
	}
}

// Constant strings are one copy across files compiled apart.
func TestConstantsInterned(t *testing.T) {
	l := newTestStore(t, map[string]string{
		"a/s.lua": `local greeting = "welcome to the support line"; return greeting .. "a"`,
		"b/s.lua": `local x = 1; local greeting = "welcome to the support line"; return greeting .. "b"`,
	}, 100, 1<<30, 1<<30)
	find := func(tenant string) *byte {
		sc, err := l.Get(Name{Tenant: tenant, Script: "s"})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range sc.Proto.Constants {
			if s, ok := c.(lua.LString); ok && s == "welcome to the support line" {
				return unsafe.StringData(string(s))
			}
		}
		t.Fatalf("%s: constant not found", tenant)
		return nil
	}
	if a, b := find("a"), find("b"); a != b {
		t.Error("the two files hold two copies of the same constant")
	}
}
