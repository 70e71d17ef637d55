package engine

import (
	lua "github.com/yuin/gopher-lua"
)

// Go keeps no per-goroutine memory count, and gopher-lua none per state, so
// a run's memory is measured the way a collector would see it: by walking
// what the run can reach (its globals, the locals and upvalues of every
// frame on its stack, the modules it loaded) and adding up estimated sizes.
// The walk runs on the VM's own goroutine (from a tick), so it races with
// nothing, and it stops as soon as the total passes the bar it is checked
// against, so its cost is bounded by the bar, not by the run's memory.

// Estimated sizes, in bytes, of gopher-lua's values (64-bit): an LValue
// slot is an interface (16), a table some 100 bytes of header and maps,
// a hash entry about 48 with its map overhead, a string its bytes plus a
// header.
const (
	sizeSlot      = 16
	sizeTable     = 112
	sizeHashEntry = 48
	sizeString    = 16
	sizeFunction  = 64
)

// maxSizeVisits bounds the values one measurement looks at (a few
// milliseconds of work); a run holding more than that is held to be over
// any bar.
const maxSizeVisits = 1 << 20

type sizer struct {
	bar    int64
	bytes  int64
	visits int
	seen   map[any]struct{}
}

// over reports whether the run reaches more than bar bytes, and the bytes
// it counted.
func (v *vm) over(bar int64) (bool, int64) {
	z := &sizer{bar: bar, seen: map[any]struct{}{}}
	return z.run(v), z.bytes
}

func (z *sizer) run(v *vm) bool {
	L := v.sb.L
	if v.env != nil && z.value(v.env) {
		return true
	}
	for _, m := range v.loaded {
		if m != nil && z.value(m) {
			return true
		}
	}
	for level := 0; ; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			break
		}
		if fn, err := L.GetInfo("f", dbg, lua.LNil); err == nil && z.value(fn) {
			return true
		}
		for n := 1; ; n++ {
			name, val := L.GetLocal(dbg, n)
			if name == "" {
				break
			}
			if z.value(val) {
				return true
			}
		}
	}
	return false
}

// value adds what v holds; true means the bar is passed (or the walk's
// budget spent) and the walk stops.
func (z *sizer) value(v lua.LValue) bool {
	z.visits++
	if z.visits > maxSizeVisits {
		return true
	}
	switch x := v.(type) {
	case lua.LString:
		z.bytes += int64(len(x)) + sizeString
	case *lua.LTable:
		if _, ok := z.seen[x]; ok {
			return false
		}
		z.seen[x] = struct{}{}
		n := x.Len()
		z.visits += n / 64 // Len and the walk below touch the array part
		z.bytes += sizeTable + int64(n)*sizeSlot
		if z.bytes > z.bar {
			return true
		}
		if x.Metatable != nil && x.Metatable != lua.LNil && z.value(x.Metatable) {
			return true
		}
		// ForEach walks gopher-lua's maps directly, many times faster than
		// Next; it cannot be broken off, but once stopped each remaining
		// entry costs a call.
		stop := false
		x.ForEach(func(k, val lua.LValue) {
			if stop {
				return
			}
			if kn, ok := k.(lua.LNumber); !ok || int(kn) < 1 || int(kn) > n {
				z.bytes += sizeHashEntry
			}
			stop = z.value(k) || z.value(val)
		})
		if stop {
			return true
		}
	case *lua.LFunction:
		if _, ok := z.seen[x]; ok {
			return false
		}
		z.seen[x] = struct{}{}
		z.bytes += sizeFunction
		for _, uv := range x.Upvalues {
			if uv != nil && z.value(uv.Value()) {
				return true
			}
		}
	case *lua.LUserData:
		z.bytes += sizeFunction
	}
	return z.bytes > z.bar
}
