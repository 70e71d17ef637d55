package sandbox

import (
	"context"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// The sandbox against stock gopher-lua on the same chunk: what its
// rewrites and checks cost. "stock" is lua.NewState with every library,
// running the chunk as gopher-lua compiles it, with no context; "sandbox"
// is Compile and a VM with a run's deadline context, as the engine runs it.
//
//	go test ./runtime/sandbox -run XXX -bench Stock -benchmem
var stockChunks = []struct{ name, src string }{
	{"concat", `local a, b = "abc", "def"; local s; for i = 1, 1000 do s = a .. b end; return s`},
	{"concat3", `local a, b = "abc", "def"; local s; for i = 1, 1000 do s = a .. "-" .. b end; return s`},
	{"rep", `local s; for i = 1, 100 do s = string.rep("ab", 1000) end; return #s`},
	{"repsep", `local s; for i = 1, 100 do s = string.rep("ab", 1000, ",") end; return #s`},
	{"loop", `local n = 0; for i = 1, 10000 do n = n + i % 7 end; return n`},
	{"calls", `local function f(x) return x + 1 end; local n = 0; for i = 1, 1000 do n = f(n) end; return n`},
}

func BenchmarkStock(b *testing.B) {
	for _, c := range stockChunks {
		b.Run(c.name+"/stock", func(b *testing.B) {
			L := lua.NewState()
			defer L.Close()
			fn, err := L.LoadString(c.src)
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				L.Push(fn)
				if err := L.PCall(0, 1, nil); err != nil {
					b.Fatal(err)
				}
				L.Pop(1)
			}
		})
		b.Run(c.name+"/sandbox", func(b *testing.B) {
			vm := New(Limits{})
			defer vm.Close()
			proto, err := Compile([]byte(c.src), "bench.lua")
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			vm.L.SetContext(ctx)
			env := vm.NewEnv()
			for b.Loop() {
				fn := vm.L.NewFunctionFromProto(proto)
				fn.Env = env
				vm.L.Push(fn)
				if err := vm.L.PCall(0, 1, nil); err != nil {
					b.Fatal(err)
				}
				vm.L.Pop(1)
			}
		})
	}
}
