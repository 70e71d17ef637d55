package sandbox

import lua "github.com/yuin/gopher-lua"

// Instruction layout of gopher-lua's bytecode: the opcode is the top six
// bits of each 32-bit instruction.
const (
	opShift = 26
	opMask  = 1<<opShift - 1
)

// noTailCalls turns every tail call back into an ordinary call. gopher-lua
// counts the tail calls a frame has made and, when an error unwinds it,
// writes one traceback line per call without looking at the deadline, so
// `local function f() return f() end f()` ran seconds past its deadline
// and built a gigabyte of traceback. An ordinary call keeps the frame on
// the call stack, so unbounded tail recursion ends at the call-depth limit
// (a "stack overflow" error) within microseconds instead.
//
// The compiler emits `return f(x)` as TAILCALL A B 0 followed by RETURN A 0:
// CALL A B 0 leaves every result on the stack, and the RETURN that follows
// returns them all, so results are unchanged.
func noTailCalls(p *lua.FunctionProto) {
	for i, inst := range p.Code {
		if int(inst>>opShift) == lua.OP_TAILCALL {
			p.Code[i] = inst&opMask | uint32(lua.OP_CALL)<<opShift
		}
	}
	for _, child := range p.FunctionPrototypes {
		noTailCalls(child)
	}
}
