package loader

import (
	"unique"

	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/runtime/sandbox"
)

// A compiled file's string constants are interned: the names every script
// uses (response, set_var, voice, the verbs' options) and the texts of a
// template its customers each filled in are one copy for the whole server
// rather than one per file, which matters when tens of thousands of files
// differ in a few constants only (the shape index shares the rest).
// unique.Make keeps the canonical copy while a handle to it exists, so each
// template holds the handles of its constants; a handle costs 8 bytes, a
// constant's own copy 16 bytes of box plus its bytes.
func internConstants(p *lua.FunctionProto) []unique.Handle[lua.LValue] {
	hs := make([]unique.Handle[lua.LValue], 0, countStrings(p))
	sandbox.InternConstants(p, func(s lua.LString) lua.LValue {
		h := unique.Make[lua.LValue](s)
		hs = append(hs, h)
		return h.Value()
	})
	return hs
}

// countStrings is how many string constants p's tree holds, so that the
// handles take exactly their room: they are kept as long as the file is.
func countStrings(p *lua.FunctionProto) int {
	n := 0
	for _, c := range p.Constants {
		if _, ok := c.(lua.LString); ok {
			n++
		}
	}
	for _, child := range p.FunctionPrototypes {
		n += countStrings(child)
	}
	return n
}
