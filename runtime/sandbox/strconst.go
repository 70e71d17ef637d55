package sandbox

import (
	"reflect"
	"slices"
	"unsafe"

	lua "github.com/yuin/gopher-lua"
)

// gopher-lua keeps a second list of a function's string constants in an
// unexported field, which its compiler makes with room for 32 (512 bytes)
// whatever the function holds: about a sixth of a small script's compiled
// form, in a cache of tens of thousands of scripts. shrink trims it to its
// length through the field's offset, found by name when the package
// starts; if a gopher-lua release renames or retypes the field, the offset
// is not found, nothing is trimmed, and TestStringConstantsTrimmed fails.
var stringConstantsOffset = func() uintptr {
	f, ok := reflect.TypeFor[lua.FunctionProto]().FieldByName("stringConstants")
	if !ok || f.Type != reflect.TypeFor[[]string]() {
		return 0
	}
	return f.Offset
}()

// stringConstants is p's private list, or nil when the field is unknown.
func stringConstants(p *lua.FunctionProto) *[]string {
	if stringConstantsOffset == 0 {
		return nil
	}
	return (*[]string)(unsafe.Add(unsafe.Pointer(p), stringConstantsOffset))
}

func trimStringConstants(p *lua.FunctionProto) {
	if sc := stringConstants(p); sc != nil {
		*sc = slices.Clip(slices.Clone(*sc))
	}
}

// InternConstants replaces every string constant of p's tree with
// intern(constant), which must return an equal string, in both of the
// lists gopher-lua keeps, so that files compiled apart can share one copy
// of the strings they have in common.
func InternConstants(p *lua.FunctionProto, intern func(lua.LString) lua.LValue) {
	sc := stringConstants(p)
	for i, c := range p.Constants {
		s, ok := c.(lua.LString)
		if !ok {
			continue
		}
		v := intern(s)
		if v != lua.LValue(s) {
			panic("sandbox: InternConstants: intern changed a constant")
		}
		p.Constants[i] = v
		if sc != nil && i < len(*sc) && (*sc)[i] == string(s) {
			(*sc)[i] = string(v.(lua.LString))
		}
	}
	for _, child := range p.FunctionPrototypes {
		InternConstants(child, intern)
	}
}
