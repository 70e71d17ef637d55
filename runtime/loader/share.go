package loader

import (
	"crypto/sha256"
	"unique"

	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/runtime/sandbox"
)

// Many tenants of a hosting server deploy the same template, so files with
// the same bytes compile once: the compiled form (code, constants, debug
// information) is shared, and each file gets its own copy of the
// FunctionProto structs only, with its own SourceName, so that errors and
// tracebacks still name the tenant's own file. Compiled forms are
// read-only for every VM already; sharing them between tenants shares
// nothing a script can change.
//
// A template lives as long as a Script made from it: each Script holds it,
// and the index holds only weak pointers, cleaned up when a template goes.
type templates struct {
	index  weakIndex[template]
	shapes shapes // for files whose bytes differ (shape.go)
}

type template struct {
	proto   *lua.FunctionProto
	shape   *shape                      // keeps the code proto shares with other templates alive
	strings []unique.Handle[lua.LValue] // keep its interned constants alive (intern.go)
	bytes   int64                       // protoBytes of the shared parts
	data    bool                        // a data module: marked, and pure data (sandbox.PureData)
}

// compile returns the compiled form of src for the file named chunk,
// sharing the compiled form of any other file with the same bytes, and
// whether it was shared. Compile errors are never shared (they name the
// file). The template's structs are the first file's (they carry its name);
// later files get copies of them over the same slices.
func (ts *templates) compile(src []byte, chunk string) (*lua.FunctionProto, *template, error) {
	sum := sha256.Sum256(src)
	if t := ts.index.get(sum); t != nil {
		return rename(t.proto, chunk), t, nil
	}
	proto, err := sandbox.Compile(src, chunk)
	if err != nil {
		return nil, nil, err
	}
	t := &template{proto: proto, shape: ts.shapes.share(proto), strings: internConstants(proto),
		bytes: protoBytes(proto), data: sandbox.HasDataMarker(src) && sandbox.PureData(proto)}
	ts.index.put(sum, t)
	// The first file of a template uses the compiled structs themselves.
	return proto, t, nil
}

// rename copies the proto tree's structs with SourceName set to chunk; the
// slices they point to are shared.
func rename(p *lua.FunctionProto, chunk string) *lua.FunctionProto {
	cp := *p
	cp.SourceName = chunk
	if len(p.FunctionPrototypes) > 0 {
		cp.FunctionPrototypes = make([]*lua.FunctionProto, len(p.FunctionPrototypes))
		for i, child := range p.FunctionPrototypes {
			cp.FunctionPrototypes[i] = rename(child, chunk)
		}
	}
	return &cp
}

// copyBytes estimates what rename allocates: a struct and a slot per function.
func copyBytes(p *lua.FunctionProto) int64 {
	n := int64(200)
	for _, child := range p.FunctionPrototypes {
		n += 8 + copyBytes(child)
	}
	return n
}
