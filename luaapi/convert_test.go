package luaapi

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// TestTableSlotsSeesTheLayout: the conversion budget reads the lengths of
// gopher-lua's table slices; a release that renames them must fail here,
// not silently charge the fallback.
func TestTableSlotsSeesTheLayout(t *testing.T) {
	if ltableArray < 0 || ltableKeys < 0 {
		t.Fatal("gopher-lua's LTable has no array/keys slices any more; review tableScanCost in convert.go")
	}
	L := lua.NewState()
	defer L.Close()
	tb := L.NewTable()
	tb.RawSetInt(5000, lua.LTrue)
	tb.RawSetInt(5000, lua.LNil) // the array part keeps its 5000 slots
	for i := range 300 {
		k := fmt.Sprint("k", i)
		tb.RawSetString(k, lua.LTrue)
		tb.RawSetString(k, lua.LNil) // the key list keeps the removed key
	}
	if got, want := tableScanCost(tb), 5000+keySlotCost*300; got != want {
		t.Errorf("scan cost %d, want %d", got, want)
	}
}

// run executes src with json.encode's conversion reachable as enc(v).
func encodeIn(t *testing.T, ctx context.Context, src string) (string, error, time.Duration) {
	t.Helper()
	L := lua.NewState()
	defer L.Close()
	if err := L.DoString(src); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	b, err := encodeJSON(ctx, L.GetGlobal("v"), lua.LNil, 4<<20)
	return string(b), err, time.Since(begin)
}

// TestSparseTablesCostTheirSlots: a table whose array part is a million
// empty slots, or whose key list is mostly removed keys, costs its slots on
// every visit; shared a hundred thousand times it used to take minutes of
// CPU with no deadline check.
func TestSparseTablesCostTheirSlots(t *testing.T) {
	for name, src := range map[string]string{
		"nil array": `local s = {} s[1000000] = 1 s[1000000] = nil
			v = {} for i = 1, 100000 do v[i] = s end`,
		"one value at the end": `local s = {} s[1000000] = 1
			v = {} for i = 1, 100000 do v[i] = s end`,
		"removed keys": `local s = {} for i = 1, 50000 do s["k" .. i] = i end
			for i = 1, 50000 do s["k" .. i] = nil end s.x = 1
			v = {} for i = 1, 100000 do v[i] = s end`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err, took := encodeIn(t, context.Background(), src)
			if err == nil || !strings.Contains(err.Error(), "too costly") {
				t.Errorf("err = %v, want the work limit", err)
			}
			t.Logf("refused after %v", took)
			if took > time.Second {
				t.Errorf("took %v to refuse", took)
			}
		})
	}
}

// TestConversionWatchesTheDeadline: work within the limits still stops
// when the run's deadline has passed.
func TestConversionWatchesTheDeadline(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err, _ := encodeIn(t, ctx, `local s = {} s[100000] = 1 v = {s, s, s}`)
	if err != context.Canceled {
		t.Errorf("err = %v, want the context's", err)
	}
}

// TestLargeValuesStillConvert: what fits the node and byte limits is not
// refused by the work limit, and arrays and objects keep their shapes.
func TestLargeValuesStillConvert(t *testing.T) {
	for name, c := range map[string]struct{ src, prefix string }{
		"array":  {`v = {} for i = 1, 150000 do v[i] = i end`, `[1,2,3,`},
		"object": {`v = {} for i = 1, 100000 do v["key" .. i] = i end`, `{"key`},
		"holes":  {`v = {1, 2, nil, 4}`, `{"1":1,"2":2,"4":4}`},
		"shared": {`local s = {1, 2} v = {} for i = 1, 50000 do v[i] = s end`, `[[1,2],[1,2],`},
	} {
		t.Run(name, func(t *testing.T) {
			out, err, _ := encodeIn(t, context.Background(), c.src)
			if err != nil || !strings.HasPrefix(out, c.prefix) {
				t.Errorf("%.40s..., %v; want %s...", out, err, c.prefix)
			}
		})
	}
}
