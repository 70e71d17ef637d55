package sandbox

import (
	"bytes"
	"errors"

	lua "github.com/yuin/gopher-lua"
)

// A data module is a lib/ file that is only data: its first line is the
// marker DataMarker and its code does nothing but build tables of literals
// and return one (PureData). The engine builds such a module once per VM
// and file version and hands every run the same deeply frozen value
// (FreezeData) instead of running the file again on every request: a table
// of a few dozen entries costs a request about fifty allocations to build.
// Frozen, it cannot carry anything from one run to the next: writes are
// errors at every depth. The marker is the author's consent to that (a
// script that writes into its data modules would break), so unmarked
// modules run per request as before.

// DataMarker starts the first line of a data module.
const DataMarker = "-- dialua: data"

// HasDataMarker reports whether a file's source starts with DataMarker.
func HasDataMarker(src []byte) bool {
	src = bytes.TrimPrefix(src, []byte("\xef\xbb\xbf"))
	if !bytes.HasPrefix(src, []byte(DataMarker)) {
		return false
	}
	rest := src[len(DataMarker):]
	return len(rest) == 0 || rest[0] == '\n' || rest[0] == '\r' || rest[0] == ' ' || rest[0] == '\t'
}

// PureData reports whether a compiled chunk only builds tables from
// constants and returns one value: no calls, no globals, no upvalues, no
// functions, no varargs, nothing that could read the request, look at the
// clock or have an effect. Its result is then the same on every run.
func PureData(p *lua.FunctionProto) bool {
	if len(p.FunctionPrototypes) > 0 || p.NumUpvalues > 0 || len(p.Code) == 0 {
		return false
	}
	for i, inst := range p.Code {
		switch int(inst >> 26) {
		case lua.OP_MOVE, lua.OP_MOVEN, lua.OP_LOADK, lua.OP_LOADBOOL, lua.OP_LOADNIL,
			lua.OP_NEWTABLE, lua.OP_SETTABLE, lua.OP_SETTABLEKS, lua.OP_SETLIST, lua.OP_UNM, lua.OP_NOP:
		case lua.OP_RETURN:
			// The chunk's one return: of one value (B = 2), last but the
			// compiler's own closing return.
			b := int(inst & 0x1ff)
			if b != 2 && i != len(p.Code)-1 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// errTooLarge is FreezeData's answer for a value over its bound.
var errTooLarge = errors.New("too large to keep")

// frozenMark is in the metatable of every frozen data proxy. Scripts never
// see those metatables (getmetatable gives "read-only"), so no script can
// make a table that passes for one. It is never written.
var frozenMark = &lua.LUserData{}

// FreezeData makes a data module's value shareable between runs: every
// table becomes a read-only proxy over a copy (one proxy per table, however
// often it is reached), readable with #, pairs, next, ipairs, unpack,
// table.concat and by every Go function of dialua that reads tables
// (Contents), and writable by none. It counts the values it copies and
// gives up past maxValues (errTooLarge) or on anything but strings,
// numbers, booleans and tables without metatables; n is how many it copied.
func (vm *VM) FreezeData(v lua.LValue, maxValues int) (frozen lua.LValue, n int, err error) {
	frozen, err = vm.freezeData(v, map[*lua.LTable]*lua.LTable{}, 0, &n, maxValues)
	return frozen, n, err
}

func (vm *VM) freezeData(v lua.LValue, done map[*lua.LTable]*lua.LTable, depth int, n *int, max int) (lua.LValue, error) {
	*n++
	if *n > max {
		return nil, errTooLarge
	}
	switch x := v.(type) {
	case lua.LString, lua.LNumber, lua.LBool:
		return v, nil
	case *lua.LTable:
		if p, ok := done[x]; ok {
			return p, nil
		}
		if depth > maxFreezeDepth || x.Metatable != lua.LNil {
			return nil, errors.New("not plain data")
		}
		inner := vm.L.CreateTable(x.Len(), 0)
		proxy := vm.L.CreateTable(0, 0)
		proxy.Metatable = vm.dataMeta(inner)
		done[x] = proxy
		var err error
		x.ForEach(func(k, val lua.LValue) {
			if err != nil {
				return
			}
			var fk, fv lua.LValue
			if fk, err = vm.freezeData(k, done, depth+1, n, max); err != nil {
				return
			}
			if fv, err = vm.freezeData(val, done, depth+1, n, max); err != nil {
				return
			}
			inner.RawSet(fk, fv)
		})
		if err != nil {
			return nil, err
		}
		return proxy, nil
	}
	return nil, errors.New("not plain data")
}

// dataMeta is a frozen data proxy's metatable: LockedMeta's, with # and the
// mark.
func (vm *VM) dataMeta(inner *lua.LTable) *lua.LTable {
	mt := LockedMeta(vm.L, inner, "")
	mt.RawSetString("__len", vm.dataLen())
	mt.RawSetString("__dialua_frozen", frozenMark)
	return mt
}

// dataLen is the __len of frozen data proxies, made once per VM.
func (vm *VM) dataLen() *lua.LFunction {
	if vm.lenFn == nil {
		vm.lenFn = vm.L.NewFunction(func(L *lua.LState) int {
			L.Push(lua.LNumber(Contents(L.CheckTable(1)).Len()))
			return 1
		})
	}
	return vm.lenFn
}

// isFrozenData reports whether t is a frozen data proxy.
func isFrozenData(t *lua.LTable) bool {
	mt, ok := t.Metatable.(*lua.LTable)
	return ok && mt.RawGetString("__dialua_frozen") == frozenMark
}

// Contents is the table whose entries a Go function reading t should see:
// for a frozen data proxy, the table it reads through to, else t itself.
// The inner table must only be read, never written nor handed to a script
// (its values are frozen proxies themselves, so handing those out is fine).
func Contents(t *lua.LTable) *lua.LTable {
	if !isFrozenData(t) {
		return t
	}
	if inner, ok := t.Metatable.(*lua.LTable).RawGetString("__index").(*lua.LTable); ok {
		return inner
	}
	return t
}
