package luaapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"

	lua "github.com/yuin/gopher-lua"
)

// maxDepth bounds nesting in both directions of the Lua <-> Go conversion.
const maxDepth = 100

// maxNodes bounds how many values one conversion visits: a table that holds
// the same subtable twice at every level is small in memory but doubles in
// JSON at each level.
const maxNodes = 200000

// budget counts a conversion's work and watches the run's deadline: values
// visited, and bytes of strings and keys, so a table holding one big string
// a hundred times fails before a hundred copies are made.
type budget struct {
	ctx      context.Context
	nodes    int
	bytes    int
	maxBytes int // 0: no byte limit
}

func (b *budget) spendBytes(n int) error {
	b.bytes += n
	if b.maxBytes > 0 && b.bytes > b.maxBytes {
		return fmt.Errorf("result larger than %d bytes", b.maxBytes)
	}
	return nil
}

func (b *budget) spend() error {
	b.nodes++
	if b.nodes > maxNodes {
		return fmt.Errorf("more than %d values", maxNodes)
	}
	if b.nodes%1024 == 0 && b.ctx != nil && b.ctx.Err() != nil {
		return b.ctx.Err()
	}
	return nil
}

// toGo converts a Lua value to plain Go (nil, bool, float64, string, []any,
// map[string]any) for JSON and the session store. A table whose keys are
// exactly 1..n is an array; any other table is an object whose number keys
// become strings; an empty table is an object. null (json.null) is nil.
func toGo(v lua.LValue, null lua.LValue, seen map[*lua.LTable]bool, depth int, b *budget) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("nested more than 100 deep")
	}
	if err := b.spend(); err != nil {
		return nil, err
	}
	switch v := v.(type) {
	case *lua.LNilType:
		return nil, nil
	case lua.LBool:
		return bool(v), nil
	case lua.LNumber:
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("cannot encode %v", v)
		}
		if err := b.spendBytes(8); err != nil {
			return nil, err
		}
		return f, nil
	case lua.LString:
		if err := b.spendBytes(len(v) + 2); err != nil {
			return nil, err
		}
		return string(v), nil
	case *lua.LTable:
		if seen[v] {
			return nil, errors.New("cycle: a table contains itself")
		}
		seen[v] = true
		defer delete(seen, v)
		n, count, onlyInts := v.Len(), 0, true
		for k, _ := v.Next(lua.LNil); k != lua.LNil; k, _ = v.Next(k) {
			count++
			if f, ok := k.(lua.LNumber); !ok || float64(f) != math.Trunc(float64(f)) || f < 1 || int(f) > n {
				onlyInts = false
			}
		}
		if count > 0 && onlyInts && count == n {
			arr := make([]any, n)
			for i := 1; i <= n; i++ {
				x, err := toGo(v.RawGetInt(i), null, seen, depth+1, b)
				if err != nil {
					return nil, err
				}
				arr[i-1] = x
			}
			return arr, nil
		}
		obj := make(map[string]any, count)
		for k, val := v.Next(lua.LNil); k != lua.LNil; k, val = v.Next(k) {
			var key string
			switch k := k.(type) {
			case lua.LString:
				key = string(k)
			case lua.LNumber:
				key = k.String()
			default:
				return nil, fmt.Errorf("cannot encode a table with a %s key", k.Type())
			}
			if err := b.spendBytes(len(key) + 4); err != nil {
				return nil, err
			}
			x, err := toGo(val, null, seen, depth+1, b)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", strconv.Quote(key), err)
			}
			obj[key] = x
		}
		return obj, nil
	default:
		if v == null {
			return nil, nil
		}
		return nil, fmt.Errorf("cannot encode a %s", v.Type())
	}
}

// fromGo converts decoded JSON to Lua: objects and arrays become tables,
// null is nil in an object (the key is simply absent) and null in an array
// (so positions are kept).
func fromGo(L *lua.LState, x any, null lua.LValue, depth int) lua.LValue {
	switch x := x.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case string:
		return lua.LString(x)
	case []any:
		t := L.CreateTable(len(x), 0)
		for i, e := range x {
			if e == nil {
				t.RawSetInt(i+1, null)
			} else {
				t.RawSetInt(i+1, fromGo(L, e, null, depth+1))
			}
		}
		return t
	case map[string]any:
		t := L.CreateTable(0, len(x))
		for k, e := range x {
			if e != nil {
				t.RawSetString(k, fromGo(L, e, null, depth+1))
			}
		}
		return t
	}
	return lua.LNil
}
