package sandbox

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Fuzz targets for the bounded string library and the .. rewrite. Seeds
// live in testdata/fuzz/<Name>/ and run with plain `go test`; fuzz one with
// e.g.
//
//	go test -run XXX -fuzz FuzzPattern -fuzztime 60s -parallel 1 ./runtime/sandbox/

// fuzzDeadline is the run deadline every fuzzed call gets, and fuzzBound how
// long a call may take in all: the deadline plus slack for a loaded machine.
// A call that outlives the bound ignored its deadline.
const (
	fuzzDeadline = 50 * time.Millisecond
	fuzzBound    = 2 * time.Second
)

// fuzzVM is a VM for one fuzz worker. A call that raised an error throws
// the VM away, as the engine does, so no failed run's leftovers decide the
// next input's outcome.
type fuzzVM struct {
	vm *VM
}

func (f *fuzzVM) get() *VM {
	if f.vm == nil {
		f.vm = New(Limits{MaxStringBytes: 1 << 20})
	}
	return f.vm
}

// call runs the library function string.<name> with args under a fresh
// deadline and returns its results. It fails the test if the call takes
// longer than fuzzBound; a Go panic inside propagates and fails it too.
func (f *fuzzVM) call(t *testing.T, name string, args ...lua.LValue) ([]lua.LValue, error) {
	t.Helper()
	vm := f.get()
	L := vm.L
	fn := L.GetField(vm.Globals.RawGetString("string"), name)
	ctx, cancel := context.WithTimeout(context.Background(), fuzzDeadline)
	defer cancel()
	L.SetContext(ctx)
	defer L.RemoveContext()
	top := L.GetTop()
	L.Push(fn)
	for _, a := range args {
		L.Push(a)
	}
	start := time.Now()
	err := L.PCall(len(args), lua.MultRet, nil)
	if d := time.Since(start); d > fuzzBound {
		t.Fatalf("string.%s took %v with a %v deadline", name, d, fuzzDeadline)
	}
	var out []lua.LValue
	for i := top + 1; i <= L.GetTop(); i++ {
		out = append(out, L.Get(i))
	}
	L.SetTop(top)
	if err != nil {
		f.vm.Close()
		f.vm = nil
	}
	return out, err
}

// luaInit is where a Lua 5.1 string function starts for init: negative
// counts from the end, then clamped to [0, len] (0-based), as in lstrlib.c.
func luaInit(init, n int) int {
	if init < 0 {
		init += n + 1
	}
	init--
	return max(0, min(init, n))
}

func num(v lua.LValue) (int, bool) {
	n, ok := v.(lua.LNumber)
	return int(n), ok
}

// FuzzPattern runs string.find, match, gmatch and gsub with fuzzed subjects,
// patterns and replacements in a sandbox VM. No Go panic may escape (a Lua
// error is fine), every call must end within fuzzBound of a 50 ms deadline,
// and the functions must agree with each other and with plain search:
//   - find(s, p, init, true) is strings.Index from init;
//   - a match find reports lies inside s, after init, and match finds it too
//     (the same text, when the pattern has no captures);
//   - gsub(s, p, "%0") gives s back, and counts as many matches as gmatch
//     yields (for a pattern without the ^ anchor, which gmatch takes as a
//     plain character).
func FuzzPattern(f *testing.F) {
	for _, c := range []struct {
		s, p string
		init int
		repl string
	}{
		{"934924", "^%d+$", 1, "%0"},
		{"  key = value ", "^%s*(%w+)%s*=%s*(%w+)", 1, "%2=%1"},
		{"2026-11-24", "(%d+)-(%d+)-(%d+)", 1, "%3/%2/%1"},
		{"hello", "()ll()", 1, "[%1]"},
		{"f(a(b)c)d", "%b()", 1, "<%0>"},
		{"THE (quick) fox", "%f[%a]%a+", 4, "%%"},
		{"hello world from lua", "(%w+) (%w+)", 7, "%0 %0"},
		{"abab", "(ab)%1", 1, "x"},
		{"a,b;c", "[^,;]+", -3, ""},
	} {
		f.Add(c.s, c.p, c.init, c.repl)
	}
	var fv fuzzVM
	f.Cleanup(func() {
		if fv.vm != nil {
			fv.vm.Close()
		}
	})
	f.Fuzz(func(t *testing.T, s, p string, init int, repl string) {
		S, P, I := lua.LString(s), lua.LString(p), lua.LNumber(init)
		if float64(I) != float64(init) {
			return // not exact as a Lua number: the reference would differ
		}

		// Plain find against strings.Index.
		out, err := fv.call(t, "find", S, P, I, lua.LTrue)
		if err != nil {
			t.Fatalf("plain find raised %v", err)
		}
		from := luaInit(init, len(s))
		if i := strings.Index(s[from:], p); i < 0 {
			if len(out) != 1 || out[0] != lua.LNil {
				t.Fatalf("find(%q, %q, %d, true) = %v, want nil", s, p, init, out)
			}
		} else if st, _ := num(out[0]); len(out) != 2 || st != from+i+1 || out[1] != lua.LNumber(from+i+len(p)) {
			t.Fatalf("find(%q, %q, %d, true) = %v, want %d %d", s, p, init, out, from+i+1, from+i+len(p))
		}

		// Pattern find, and match on the same arguments.
		found, ferr := fv.call(t, "find", S, P, I)
		if deadline(ferr) {
			// Backtracking stopped at the deadline, as it must; every
			// other call would take its 50 ms too, for nothing.
			return
		}
		matched, merr := fv.call(t, "match", S, P, I)
		if ferr != nil || merr != nil {
			// Without a special character find searches plainly, as Lua
			// 5.1 does, so match alone sees a malformed pattern such as
			// ")"; with one, both run the matcher and fail alike.
			if (ferr == nil) != (merr == nil) && !deadline(merr) && strings.ContainsAny(p, patSpecials) {
				t.Fatalf("find and match disagree on %q: %v / %v", p, ferr, merr)
			}
		} else if found[0] == lua.LNil {
			if len(matched) != 1 || matched[0] != lua.LNil {
				t.Fatalf("find(%q, %q, %d) = nil but match = %v", s, p, init, matched)
			}
		} else {
			st, ok1 := num(found[0])
			en, ok2 := num(found[1])
			if !ok1 || !ok2 || st < from+1 || en < st-1 || en > len(s) {
				t.Fatalf("find(%q, %q, %d) = %v: not a span of the subject from %d", s, p, init, found, from+1)
			}
			if len(matched) == 0 || matched[0] == lua.LNil {
				t.Fatalf("find(%q, %q, %d) = %v but match = %v", s, p, init, found, matched)
			}
			if !strings.Contains(p, "(") && (len(matched) != 1 || matched[0] != lua.LString(s[st-1:en])) {
				t.Fatalf("match(%q, %q, %d) = %v, find says %q", s, p, init, matched, s[st-1:en])
			}
		}

		// gsub with %0 is the identity; its count is gmatch's.
		gs, gerr := fv.call(t, "gsub", S, P, lua.LString("%0"))
		if gerr == nil && (len(gs) != 2 || gs[0] != S) {
			t.Fatalf("gsub(%q, %q, %q) = %v, want the subject back", s, p, "%0", gs)
		}
		if gerr == nil && !strings.HasPrefix(p, "^") {
			n := gmatchCount(t, &fv, S, P, len(s)+2)
			if n >= 0 && gs[1] != lua.LNumber(n) {
				t.Fatalf("gsub(%q, %q) counts %v matches, gmatch yields %d", s, p, gs[1], n)
			}
		}

		// Fuzzed replacements of every kind: only panics and overruns count.
		fv.call(t, "gsub", S, P, lua.LString(repl))
		fv.call(t, "gsub", S, P, lua.LString(repl), I)
		tbl := fv.get().L.NewTable()
		tbl.RawSetString(s, lua.LString(repl))
		tbl.RawSetString(repl, lua.LFalse)
		fv.call(t, "gsub", S, P, tbl)
		fv.call(t, "gsub", S, P, fv.get().L.NewFunction(func(L *lua.LState) int {
			L.Push(lua.LString(repl + L.OptString(1, "")))
			return 1
		}))
	})
}

func deadline(err error) bool {
	return err != nil && strings.Contains(err.Error(), "context deadline exceeded")
}

// gmatchCount iterates string.gmatch(s, p) and returns how many matches it
// yields, or -1 when the iteration raised an error (or yielded more than
// limit, which no correct iterator can).
func gmatchCount(t *testing.T, fv *fuzzVM, s, p lua.LValue, limit int) int {
	t.Helper()
	it, err := fv.call(t, "gmatch", s, p)
	if err != nil {
		return -1
	}
	vm := fv.get()
	L := vm.L
	ctx, cancel := context.WithTimeout(context.Background(), fuzzDeadline)
	defer cancel()
	L.SetContext(ctx)
	defer L.RemoveContext()
	start := time.Now()
	defer func() {
		if d := time.Since(start); d > fuzzBound {
			t.Fatalf("gmatch took %v with a %v deadline", d, fuzzDeadline)
		}
	}()
	for n := 0; ; n++ {
		top := L.GetTop()
		L.Push(it[0])
		if err := L.PCall(0, lua.MultRet, nil); err != nil {
			L.SetTop(top)
			fv.vm.Close()
			fv.vm = nil
			return -1
		}
		done := L.GetTop() == top || L.Get(top+1) == lua.LNil
		L.SetTop(top)
		if done {
			return n
		}
		if n > limit {
			t.Fatalf("gmatch(%q, %q) yields more than %d matches", s, p, limit)
		}
	}
}

// FuzzFormat runs string.format with fuzzed format strings and arguments:
// no Go panic, done within the bound, no more than the string limit, and
// the cases with a plain answer checked: a format without % is itself, %s
// is tostring, width and precision of %s count bytes as in C, %d and %x
// print the integer.
func FuzzFormat(f *testing.F) {
	f.Add("%s has %d items", "cart", 3.0, int64(3))
	f.Add("%5.2f|%-8s|%x|%X|%o|%c", "abc", 3.14159, int64(255))
	f.Add("%q", "a\"b\\c\nd\re\x00f", 0.0, int64(0))
	f.Add("%+.3e %G %g %#x %#o % d %05d", "", -1e300, int64(-42))
	f.Add("%.99f %99d %-99s", "x", 1e308, int64(1))
	f.Add("%10.4s|%.0s|%%|%i|%u", "élan", 2.5, int64(-1))
	f.Add("%d", "", 9.2e18, int64(1)<<62)
	f.Add("%100d %.100f %123", "", 1.0, int64(1))
	var fv fuzzVM
	f.Cleanup(func() {
		if fv.vm != nil {
			fv.vm.Close()
		}
	})
	f.Fuzz(func(t *testing.T, format, s string, x float64, i int64) {
		S, X, I := lua.LString(s), lua.LNumber(x), lua.LNumber(i)
		// Arguments in each order, so any conversion meets a value it can
		// take somewhere.
		for _, args := range [][]lua.LValue{
			{S, X, I, S, X, I, S, X, I},
			{X, I, S, X, I, S, X, I, S},
			{I, S, X, I, S, X, I, S, X},
		} {
			out, err := fv.call(t, "format", append([]lua.LValue{lua.LString(format)}, args...)...)
			if err == nil && len(lua.LVAsString(out[0])) > 1<<20 {
				t.Fatalf("format(%q) built %d bytes, over the limit", format, len(lua.LVAsString(out[0])))
			}
		}
		if !strings.Contains(format, "%") {
			out, err := fv.call(t, "format", lua.LString(format), S)
			if err != nil || len(out) != 1 || out[0] != lua.LString(format) {
				t.Fatalf("format(%q) = %v, %v; want the format back", format, out, err)
			}
		}
		if out, err := fv.call(t, "format", lua.LString("%s"), S); err != nil || out[0] != S {
			t.Fatalf("format(%%s, %q) = %v, %v", s, out, err)
		}
		if out, err := fv.call(t, "format", lua.LString("%s"), X); err != nil || out[0] != lua.LString(X.String()) {
			t.Fatalf("format(%%s, %v) = %v, %v; want tostring %q", x, out, err, X.String())
		}
		w, p := int(uint64(i)%100), int(uint64(i)/100%100)
		spec := fmt.Sprintf("%%-%d.%ds|%%%ds", w, p, w)
		want := s[:min(p, len(s))]
		want = want + strings.Repeat(" ", max(0, w-len(want))) + "|" + strings.Repeat(" ", max(0, w-len(s))) + s
		if out, err := fv.call(t, "format", lua.LString(spec), S, S); err != nil || out[0] != lua.LString(want) {
			t.Fatalf("format(%q, %q) = %v, %v; want %q", spec, s, out, err, want)
		}
		if i > -1<<53 && i < 1<<53 {
			want := strconv.FormatInt(i, 10) + "|" + strconv.FormatUint(uint64(i), 16)
			if out, err := fv.call(t, "format", lua.LString("%d|%x"), I, I); err != nil || out[0] != lua.LString(want) {
				t.Fatalf("format(%%d|%%x, %d) = %v, %v; want %q", i, out, err, want)
			}
		}
	})
}
