package engine

import (
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// gopher-lua reports indexing nil as "attempt to index a non-table
// object(nil) with key 'hangup'", where Lua 5.1 and OpenResty say "attempt
// to index global 'reponse' (a nil value)": the name of the thing indexed is
// what tells a script author which word is misspelt. gopher-lua does not
// keep the failing instruction, so the name is found in the bytecode of the
// failing line: a global loaded into a register that is then indexed with
// that key. When the line has no such global, or more than one, the message
// stays as it is.

// Instruction fields, as gopher-lua lays them out.
func opCode(i uint32) int { return int(i >> 26) }
func argA(i uint32) int   { return int(i>>18) & 0xff }
func argB(i uint32) int   { return int(i & 0x1ff) }
func argC(i uint32) int   { return int(i>>9) & 0x1ff }
func argBx(i uint32) int  { return int(i & 0x3ffff) }

const rkConstant = 1 << 8 // an RK operand with this bit names a constant

const indexPrefix = "attempt to index a non-table object("

// nameCulprit rewrites gopher-lua's index error for a global, using the
// failing function's bytecode at line.
func nameCulprit(msg string, p *lua.FunctionProto, line int) string {
	rest, ok := strings.CutPrefix(msg, indexPrefix)
	if !ok || p == nil {
		return msg
	}
	typ, rest, ok := strings.Cut(rest, ") with key '")
	if !ok || !strings.HasSuffix(rest, "'") {
		return msg
	}
	key := strings.TrimSuffix(rest, "'")
	name := ""
	for pc, inst := range p.Code {
		if pc >= len(p.DbgSourcePositions) || p.DbgSourcePositions[pc] != line || opCode(inst) != lua.OP_GETGLOBAL {
			continue
		}
		g, ok := constant(p, argBx(inst)).(lua.LString)
		if !ok || !indexedWith(p, pc, argA(inst), key) {
			continue
		}
		if name != "" && name != string(g) {
			return msg // two candidates: say nothing rather than guess
		}
		name = string(g)
	}
	if name == "" {
		return msg
	}
	return "attempt to index global '" + name + "' (a " + typ + " value) with key '" + key + "'"
}

// indexedWith reports whether, after pc, register reg is indexed with the
// constant key before anything else is written into it.
func indexedWith(p *lua.FunctionProto, pc, reg int, key string) bool {
	for _, inst := range p.Code[pc+1:] {
		op := opCode(inst)
		if (op == lua.OP_GETTABLE || op == lua.OP_GETTABLEKS || op == lua.OP_SELF) && argB(inst) == reg {
			c := argC(inst)
			k, ok := constant(p, c&^rkConstant).(lua.LString)
			return c&rkConstant != 0 && ok && string(k) == key
		}
		if argA(inst) == reg && op != lua.OP_SETTABLE && op != lua.OP_SETTABLEKS && op != lua.OP_SETLIST {
			return false
		}
	}
	return false
}

func constant(p *lua.FunctionProto, i int) lua.LValue {
	if i < 0 || i >= len(p.Constants) {
		return nil
	}
	return p.Constants[i]
}
