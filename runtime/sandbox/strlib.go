package sandbox

import (
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// openString builds the string library scripts see: gopher-lua's plain
// functions where they are bounded by their input, and our own versions of
// everything that can loop or allocate without bound (rep, format, and the
// pattern functions).
func (vm *VM) openString(L *lua.LState) *lua.LTable {
	lua.OpenString(L)
	std := L.GetGlobal("string").(*lua.LTable)
	t := L.NewTable()
	for _, name := range []string{"char", "len", "lower", "reverse", "sub", "upper"} {
		t.RawSetString(name, std.RawGetString(name))
	}
	t.RawSetString("byte", L.NewFunction(strByte))
	t.RawSetString("rep", L.NewFunction(vm.strRep))
	t.RawSetString("format", L.NewFunction(vm.strFormat))
	t.RawSetString("find", L.NewFunction(strFind))
	t.RawSetString("match", L.NewFunction(strMatch))
	gmatch := L.NewFunction(strGmatch)
	t.RawSetString("gmatch", gmatch)
	t.RawSetString("gfind", gmatch) // Lua 5.0's name, kept by 5.1 for old scripts
	t.RawSetString("gsub", L.NewFunction(vm.strGsub))
	return t
}

// strRep is string.rep(s, n [, sep]) with the result size checked before any
// byte is allocated.
func (vm *VM) strRep(L *lua.LState) int {
	s := L.CheckString(1)
	n := L.CheckInt(2)
	sep := L.OptString(3, "")
	if n <= 0 || len(s)+len(sep) == 0 {
		L.Push(lua.LString(""))
		return 1
	}
	// In floating point, so no count can wrap around to a small size.
	total := float64(len(s))*float64(n) + float64(len(sep))*float64(n-1)
	if total > float64(vm.limits.MaxStringBytes) {
		L.RaiseError("string.rep: result of %.0f bytes is over the limit of %d", total, vm.limits.MaxStringBytes)
	}
	// strings.Repeat copies in doubling chunks: a few large copies, where
	// writing the pieces one by one took a call per piece (7x gopher-lua's
	// own string.rep for short pieces).
	var out string
	if sep == "" {
		out = strings.Repeat(s, n)
	} else {
		// One copy: the last separator is cut off the end.
		out = strings.Repeat(s+sep, n)[:int(total)]
	}
	vm.made(L, len(out))
	L.Push(lua.LString(out))
	return 1
}

// posrelat turns a Lua string position (negative counts from the end) into a
// 0-based start offset clamped to the string.
func startOffset(init, n int) int {
	if init < 0 {
		init = n + init + 1
	}
	init--
	if init < 0 {
		init = 0
	} else if init > n {
		init = n
	}
	return init
}

// strByte is Lua 5.1's string.byte, with its "string slice too long" check.
func strByte(L *lua.LState) int {
	s := L.CheckString(1)
	i := L.OptInt(2, 1)
	if i < 0 {
		i = len(s) + i + 1
	}
	e := L.OptInt(3, i)
	if e < 0 {
		e = len(s) + e + 1
	}
	if i <= 0 {
		i = 1
	}
	if e > len(s) {
		e = len(s)
	}
	if i > e {
		return 0
	}
	if e-i+1 > maxResults {
		L.RaiseError("string slice too long")
	}
	for k := i; k <= e; k++ {
		L.Push(lua.LNumber(s[k-1]))
	}
	return e - i + 1
}

func strFind(L *lua.LState) int  { return findAux(L, true) }
func strMatch(L *lua.LState) int { return findAux(L, false) }

// maxPattern bounds a pattern's length: the matcher rescans a bracket class
// on every step, so a class of megabytes would cost seconds between two
// deadline checks. No real pattern comes near it.
const maxPattern = 32 << 10

func checkPattern(L *lua.LState, n int) string {
	p := L.CheckString(n)
	if len(p) > maxPattern {
		L.ArgError(n, "pattern longer than 32 KiB")
	}
	return p
}

func findAux(L *lua.LState, find bool) int {
	src := L.CheckString(1)
	pat := L.CheckString(2)
	if !find || !lua.LVAsBool(L.Get(4)) {
		pat = checkPattern(L, 2)
	}
	init := startOffset(L.OptInt(3, 1), len(src))
	if find && (lua.LVAsBool(L.Get(4)) || !strings.ContainsAny(pat, patSpecials)) {
		if i := strings.Index(src[init:], pat); i >= 0 {
			L.Push(lua.LNumber(init + i + 1))
			L.Push(lua.LNumber(init + i + len(pat)))
			return 2
		}
		L.Push(lua.LNil)
		return 1
	}
	m := &matcher{L: L, src: src}
	anchor := len(pat) > 0 && pat[0] == '^'
	if anchor {
		pat = pat[1:]
	}
	m.pat = pat
	for s := init; ; s++ {
		m.level = 0
		if e := m.match(s, 0); e != -1 {
			if find {
				L.Push(lua.LNumber(s + 1))
				L.Push(lua.LNumber(e))
				return m.pushCaptures(-1, -1, false) + 2
			}
			return m.pushCaptures(s, e, true)
		}
		if s >= len(src) || anchor {
			break
		}
	}
	L.Push(lua.LNil)
	return 1
}

func strGmatch(L *lua.LState) int {
	src := L.CheckString(1)
	pat := checkPattern(L, 2)
	pos := 0
	L.Push(L.NewFunction(func(L *lua.LState) int {
		m := &matcher{L: L, src: src, pat: pat}
		for s := pos; s <= len(src); s++ {
			m.level = 0
			if e := m.match(s, 0); e != -1 {
				pos = e
				if e == s {
					pos++
				}
				return m.pushCaptures(s, e, true)
			}
		}
		pos = len(src) + 1
		return 0
	}))
	return 1
}

func (vm *VM) strGsub(L *lua.LState) int {
	src := L.CheckString(1)
	pat := checkPattern(L, 2)
	repl := L.Get(3)
	switch repl.Type() {
	case lua.LTString, lua.LTNumber, lua.LTTable, lua.LTFunction:
	default:
		L.ArgError(3, "string/function/table expected, got "+repl.Type().String())
	}
	maxN := L.OptInt(4, len(src)+1)
	anchor := len(pat) > 0 && pat[0] == '^'
	if anchor {
		pat = pat[1:]
	}
	m := &matcher{L: L, src: src, pat: pat}
	var b []byte
	s, n := 0, 0
	for n < maxN {
		m.level = 0
		e := m.match(s, 0)
		if e != -1 {
			n++
			b = vm.addValue(m, b, s, e, repl)
		}
		switch {
		case e != -1 && e > s:
			s = e
		case s < len(src):
			b = append(b, src[s])
			s++
		default:
			goto done
		}
		if anchor {
			break
		}
	}
done:
	b = append(b, src[s:]...)
	vm.checkLen(L, len(b))
	vm.made(L, len(b))
	L.Push(lua.LString(b))
	L.Push(lua.LNumber(n))
	return 2
}

// addValue appends the replacement for the match src[s:e].
func (vm *VM) addValue(m *matcher, b []byte, s, e int, repl lua.LValue) []byte {
	L := m.L
	var val lua.LValue
	switch r := repl.(type) {
	case lua.LString, lua.LNumber:
		rs := lua.LVAsString(r)
		for i := 0; i < len(rs); i++ {
			c := rs[i]
			if c != '%' {
				b = append(b, c)
				continue
			}
			i++
			switch {
			case i >= len(rs):
				L.RaiseError("%s", "invalid use of '%' in replacement string")
			case rs[i] == '0':
				vm.checkLen(L, len(b)+e-s)
				b = append(b, m.src[s:e]...)
			case rs[i] >= '1' && rs[i] <= '9':
				piece := lua.LVAsString(m.captureValue(int(rs[i]-'1'), s, e))
				vm.checkLen(L, len(b)+len(piece))
				b = append(b, piece...)
			default:
				b = append(b, rs[i])
			}
		}
		vm.checkLen(L, len(b))
		return b
	case *lua.LTable:
		val = L.GetTable(r, m.captureValue(0, s, e))
	case *lua.LFunction:
		top := L.GetTop()
		L.Push(r)
		n := m.pushCaptures(s, e, true)
		L.Call(n, 1)
		val = L.Get(-1)
		L.SetTop(top)
	}
	switch val.Type() {
	case lua.LTNil:
		b = append(b, m.src[s:e]...)
	case lua.LTBool:
		if val == lua.LFalse {
			b = append(b, m.src[s:e]...)
		} else {
			L.RaiseError("invalid replacement value (a boolean)")
		}
	case lua.LTString, lua.LTNumber:
		b = append(b, lua.LVAsString(val)...)
	default:
		L.RaiseError("invalid replacement value (a %s)", val.Type().String())
	}
	vm.checkLen(L, len(b))
	return b
}
