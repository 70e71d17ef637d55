package luaapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"

	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/runtime/sandbox"
)

// maxDepth bounds the nesting of Lua values converted to Go (json.encode,
// session values, http table bodies). The other direction, decoded JSON to
// Lua, is bounded before a table is built: encoding/json refuses nesting
// past 10,000 levels, and decodeJSON counts the values (maxNodes).
const maxDepth = 100

// maxNodes bounds how many values one conversion visits: a table that holds
// the same subtable twice at every level is small in memory but doubles in
// JSON at each level.
const maxNodes = 200000

// Work is what a conversion costs in Go, where the Lua deadline is not
// checked, in units of about one array slot scanned (some 8 ns): a value
// visited costs one unit, a slot of a table's array part one, and a slot of
// its key list keySlotCost (gopher-lua looks each up in a map, some 120 ns
// for a short string key). Bytes of strings are counted against the byte
// limit rather than here: the conversion never copies them, and the encoder
// that does is bounded by that limit. maxWork (about 70 ms) is above what
// any value within maxNodes costs (200,000 string keys: 6.4 million, two
// passes) and far below what a shared sparse table visited maxNodes times
// would (2*10^11).
const (
	keySlotCost = 16
	maxWork     = 1 << 23
	checkEvery  = 4096 // units of work between deadline checks
)

// budget counts a conversion's work and watches the run's deadline: values
// visited, bytes of strings and keys (so a table holding one big string a
// hundred times fails before a hundred copies are made), and every table
// slot a scan goes through (so a table whose array part is a million nils
// costs a million whether it holds one value or none).
type budget struct {
	ctx       context.Context
	nodes     int
	bytes     int
	maxBytes  int // 0: no byte limit
	work      int
	nextCheck int // work at which the deadline is looked at next
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
	return b.spendWork(1)
}

// spendWork charges n units before they are done, so a scan that would
// pass the limit or the deadline is refused rather than run.
func (b *budget) spendWork(n int) error {
	b.work += n
	if b.work > maxWork {
		return errors.New("value too costly to convert (very large or sparse tables)")
	}
	if b.work >= b.nextCheck {
		b.nextCheck = b.work + checkEvery
		if b.ctx != nil {
			select {
			case <-b.ctx.Done():
				return b.ctx.Err()
			default:
			}
		}
	}
	return nil
}

// gopher-lua's LTable keeps its array part and its key list (which keeps
// the keys of removed entries too) in unexported slices. Next walks both
// slot by slot, nils and removed keys included, and Len walks the array
// part; neither says how far it went. Their lengths are read here so a scan
// is charged what it will cost before it starts. A gopher-lua release that
// renames them fails TestTableSlotsSeesTheLayout; until then tableSlots
// charges the largest array part a table can have.
var ltableArray, ltableKeys = ltableField("array"), ltableField("keys")

func ltableField(name string) int {
	f, ok := reflect.TypeFor[lua.LTable]().FieldByName(name)
	if !ok || f.Type.Kind() != reflect.Slice || len(f.Index) != 1 {
		return -1
	}
	return f.Index[0]
}

// tableScanCost is the work of one pass of Next over t.
func tableScanCost(t *lua.LTable) int {
	if ltableArray < 0 || ltableKeys < 0 {
		return lua.MaxArrayIndex
	}
	v := reflect.ValueOf(t).Elem()
	return v.Field(ltableArray).Len() + keySlotCost*v.Field(ltableKeys).Len()
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
		v = sandbox.Contents(v)
		if seen[v] {
			return nil, errors.New("cycle: a table contains itself")
		}
		seen[v] = true
		defer delete(seen, v)
		return tableToGo(v, null, seen, depth, b)
	default:
		if v == null {
			return nil, nil
		}
		return nil, fmt.Errorf("cannot encode a %s", v.Type())
	}
}

func tableToGo(v *lua.LTable, null lua.LValue, seen map[*lua.LTable]bool, depth int, b *budget) (any, error) {
	// One pass of Next tells an array from an object: keys that are all
	// integers from 1 whose largest equals their count are exactly 1..n.
	// (Len is not used: it scans the array part again and says nothing
	// about the rest.)
	scan := tableScanCost(v)
	if err := b.spendWork(scan); err != nil {
		return nil, err
	}
	count, largest, onlyInts := 0, 0, true
	for k, _ := v.Next(lua.LNil); k != lua.LNil; k, _ = v.Next(k) {
		count++
		f, ok := k.(lua.LNumber)
		if !ok || float64(f) != math.Trunc(float64(f)) || f < 1 || f >= lua.LNumber(lua.MaxArrayIndex) {
			onlyInts = false
		} else if int(f) > largest {
			largest = int(f)
		}
	}
	if count > 0 && onlyInts && largest == count {
		// The values sit in the array part, one RawGetInt each.
		if err := b.spendWork(count); err != nil {
			return nil, err
		}
		arr := make([]any, count)
		for i := 1; i <= count; i++ {
			x, err := toGo(v.RawGetInt(i), null, seen, depth+1, b)
			if err != nil {
				return nil, err
			}
			arr[i-1] = x
		}
		return arr, nil
	}
	if err := b.spendWork(scan); err != nil {
		return nil, err
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
}

// fromGo converts decoded JSON to Lua: objects and arrays become tables,
// null is nil in an object (the key is simply absent) and null in an array
// (so positions are kept). The decoder has bounded the values already
// (decodeJSON); b watches the deadline while the tables are built.
func fromGo(L *lua.LState, x any, null lua.LValue, b *budget) (lua.LValue, error) {
	if err := b.spendWork(1); err != nil {
		return lua.LNil, err
	}
	switch x := x.(type) {
	case nil:
		return lua.LNil, nil
	case bool:
		return lua.LBool(x), nil
	case float64:
		return lua.LNumber(x), nil
	case string:
		return lua.LString(x), nil
	case []any:
		t := L.CreateTable(len(x), 0)
		for i, e := range x {
			if e == nil {
				t.RawSetInt(i+1, null)
				continue
			}
			v, err := fromGo(L, e, null, b)
			if err != nil {
				return lua.LNil, err
			}
			t.RawSetInt(i+1, v)
		}
		return t, nil
	case map[string]any:
		t := L.CreateTable(0, len(x))
		for k, e := range x {
			if e == nil {
				continue
			}
			v, err := fromGo(L, e, null, b)
			if err != nil {
				return lua.LNil, err
			}
			t.RawSetString(k, v)
		}
		return t, nil
	}
	return lua.LNil, nil
}
