package sandbox

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// run compiles src as a chunk and runs it in vm with a fresh env, returning
// its results joined as Lua's tostring would print them.
func run(t *testing.T, vm *VM, src string, timeout time.Duration) (string, error) {
	t.Helper()
	proto, err := Compile([]byte(src), "test.lua")
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	L := vm.L
	fn := L.NewFunctionFromProto(proto)
	fn.Env = vm.NewEnv()
	L.SetContext(ctx)
	defer L.RemoveContext()
	top := L.GetTop()
	L.Push(fn)
	if err := L.PCall(0, lua.MultRet, nil); err != nil {
		return "", err
	}
	var out []string
	for i := top + 1; i <= L.GetTop(); i++ {
		out = append(out, L.ToStringMeta(L.Get(i)).String())
	}
	L.SetTop(top)
	return strings.Join(out, "|"), nil
}

// Expected values were produced by the reference Lua 5.1 interpreter
// (lua5.1) from the same expressions.
var lua51 = [][2]string{
	{"string.find(\x22hello world\x22, \x22o w\x22)", "5|7"},
	{"string.find(\x22hello world\x22, \x22l+\x22)", "3|4"},
	{"string.find(\x22hello\x22, \x22l\x22, 1, true)", "3|3"},
	{"string.find(\x22a.b\x22, \x22.\x22, 1, true)", "2|2"},
	{"string.find(\x22hello\x22, \x22xyz\x22)", "nil"},
	{"string.find(\x22hello\x22, \x22\x22)", "1|0"},
	{"string.find(\x22hello\x22, \x22\x22, 10)", "6|5"},
	{"string.find(\x22hello\x22, \x22l\x22, -2)", "4|4"},
	{"string.find(\x22  key = value \x22, \x22^%s*(%w+)%s*=%s*(%w+)\x22)", "1|13|key|value"},
	{"string.match(\x22key=val\x22, \x22(%w+)=(%w+)\x22)", "key|val"},
	{"string.match(\x222026-11-24\x22, \x22(%d+)-(%d+)-(%d+)\x22)", "2026|11|24"},
	{"string.match(\x22hello\x22, \x22()ll()\x22)", "3|5"},
	{"string.match(\x22  trim  \x22, \x22^%s*(.-)%s*$\x22)", "trim"},
	{"string.match(\x22THE (quick) fox\x22, \x22%((%a+)%)\x22)", "quick"},
	{"string.match(\x22f(a(b)c)d\x22, \x22%b()\x22)", "(a(b)c)"},
	{"string.match(\x22THE quick\x22, \x22%f[%a]%a+\x22, 4)", "quick"},
	{"string.match(\x22abc\x22, \x22a*\x22)", "a"},
	{"string.match(\x22aaab\x22, \x22a-b\x22)", "aaab"},
	{"string.match(\x22aaab\x22, \x22^a-$\x22)", "nil"},
	{"string.match(\x22x = [[y]]\x22, \x22%[%[(.-)%]%]\x22)", "y"},
	{"string.match(\x22hello\x22, \x22.-(l+)(.*)\x22)", "ll|o"},
	{"string.match(\x22abab\x22, \x22(ab)%1\x22)", "ab"},
	{"string.match(\x220x1F\x22, \x22^0[xX](%x+)$\x22)", "1F"},
	{"string.match(\x22a,b;c\x22, \x22[,;]\x22)", ","},
	{"string.match(\x22a]b\x22, \x22[]]\x22)", "]"},
	{"string.match(\x22a-b\x22, \x22[a%-]+\x22)", "a-"},
	{"string.match(\x22Z9_\x22, \x22[%u%d_]+\x22)", "Z9_"},
	{"string.match(\x22tab\x5cthere\x22, \x22%c\x22)", "\x09"},
	{"string.match(\x22..!!\x22, \x22%p+\x22)", "..!!"},
	{"string.match(\x22abc\x22, \x22[^a]+\x22)", "bc"},
	{"string.match(\x22abc\x22, \x22b?c\x22)", "bc"},
	{"string.match(\x22hello world from lua\x22, \x22(%w+) (%w+)\x22, 7)", "world|from"},
	{"string.gsub(\x22hello world\x22, \x22o\x22, \x220\x22)", "hell0 w0rld|2"},
	{"string.gsub(\x22hello world\x22, \x22(%w+)\x22, \x22<%1>\x22)", "<hello> <world>|2"},
	{"string.gsub(\x22hello world\x22, \x22%w+\x22, \x22%0 %0\x22, 1)", "hello hello world|1"},
	{"string.gsub(\x22abc\x22, \x22\x22, \x22-\x22)", "-a-b-c-|4"},
	{"string.gsub(\x22hello\x22, \x22l\x22, {l = \x22L\x22})", "heLLo|2"},
	{"string.gsub(\x22$name is $age\x22, \x22%$(%w+)\x22, {name = \x22Bob\x22, age = 42})", "Bob is 42|2"},
	{"string.gsub(\x22abc\x22, \x22%w\x22, function(c) return c:upper() .. \x22.\x22 end)", "A.B.C.|3"},
	{"string.gsub(\x22abc\x22, \x22%w\x22, function(c) if c == \x22b\x22 then return false end return \x22x\x22 end)", "xbx|3"},
	{"string.gsub(\x22one two\x22, \x22^%w+\x22, \x22X\x22)", "X two|1"},
	{"string.gsub(\x22100%\x22, \x22%%\x22, \x22 percent\x22)", "100 percent|1"},
	{"string.gsub(\x22a b\x22, \x22 \x22, \x22%%\x22)", "a%b|1"},
	{"string.format(\x22%d items\x22, 3)", "3 items"},
	{"string.format(\x22%5.2f|%-5d|%05d\x22, 3.14159, 42, 7)", " 3.14|42   |00007"},
	{"string.format(\x22%x %X %o\x22, 255, 255, 8)", "ff FF 10"},
	{"string.format(\x22%s and %s\x22, \x22a\x22, 1)", "a and 1"},
	{"string.format(\x22%q\x22, 'a \x22quoted\x22\x5cn\x5c\x5c line')", "\x22a \x5c\x22quoted\x5c\x22\x5c\x0a\x5c\x5c line\x22"},
	{"string.format(\x22%g %g %g\x22, 0.1, 1e20, 100)", "0.1 1e+20 100"},
	{"string.format(\x22%e\x22, 12345.678)", "1.234568e+04"},
	{"string.format(\x22%c%c%c\x22, 76, 117, 97)", "Lua"},
	{"string.format(\x22%%\x22)", "%"},
	{"string.format(\x22%10s|%-10s|\x22, \x22hi\x22, \x22hi\x22)", "        hi|hi        |"},
	{"string.format(\x22%.3s\x22, \x22abcdef\x22)", "abc"},
	{"string.format(\x22%+d % d\x22, 5, 5)", "+5  5"},
	{"string.format(\x22%i\x22, 3.99)", "3"},
	{"string.rep(\x22ab\x22, 3)", "ababab"},
	{"string.rep(\x22x\x22, 0)", ""},
	{"string.rep(\x22ab\x22, 3, \x22, \x22)", "ab, ab, ab"},
	{"string.rep(\x22x\x22, 1, \x22,\x22)", "x"},
	{"string.rep(\x22\x22, 3, \x22-\x22)", "--"},
	{"#string.rep(\x22abc\x22, 1000)", "3000"},
	{"table.concat({1, 2, \x22three\x22}, \x22, \x22)", "1, 2, three"},
	{"table.concat({\x22a\x22, \x22b\x22, \x22c\x22}, \x22-\x22, 2, 3)", "b-c"},
	{"table.concat({})", ""},
	{"string.byte(\x22hello\x22)", "104"},
	{"string.byte(\x22hello\x22, 2)", "101"},
	{"string.byte(\x22hello\x22, 2, 4)", "101|108|108"},
	{"string.byte(\x22hello\x22, -2, -1)", "108|111"},
	{"string.byte(\x22hello\x22, 0, 2)", "104|101"},
	{"string.byte(\x22hello\x22, 4, 10)", "108|111"},
	{"string.byte(\x22hello\x22, 3, 2)", ""},
	{"string.byte(\x22\x22)", ""},
	{"unpack({1, 2, 3})", "1|2|3"},
	{"unpack({1, 2, 3}, 2)", "2|3"},
	{"unpack({1, 2, 3}, 2, 5)", "2|3|nil|nil"},
	{"unpack({1, 2, 3}, 3, 1)", ""},
	{"string.format(\x22%#x|%#o|%x\x22, 0, 0, 255)", "0|0|ff"},
	{"string.format(\x22%+x|% x|%+u|%+X\x22, 255, 255, 5, 171)", "ff|ff|5|AB"},
	{"string.format(\x22[%5s][%-5s][%.1s]\x22, \x22\xc3\xa9\x22, \x22\xc3\xa9\x22, \x22\xc3\xa9\x22)", "[   \xc3\xa9][\xc3\xa9   ][\xc3]"},
	{"string.format(\x22[%5c][%-3c]\x22, 65, 66)", "[    A][B  ]"},
	{"string.format(\x22%f|%e|%g\x22, 1/0, -1/0, 1/0)", "inf|-inf|inf"},
	{"string.format(\x22%5.1f|%-8.3e|%+d\x22, 3.14159, 1234.5, 3)", "  3.1|1.234e+03|+3"},
	{"string.format(\x22%.3s|%10.4s|\x22, \x22abcdef\x22, \x22abcdef\x22)", "abc|      abcd|"},
}

func TestStringLibraryMatchesLua51(t *testing.T) {
	vm := New(Limits{})
	defer vm.Close()
	for _, c := range lua51 {
		got, err := run(t, vm, "return "+c[0], time.Second)
		if err != nil {
			t.Errorf("%s: %v", c[0], err)
			continue
		}
		if got != c[1] {
			t.Errorf("%s\n got: %q\nwant: %q", c[0], got, c[1])
		}
	}
}

func TestPatternErrors(t *testing.T) {
	vm := New(Limits{})
	defer vm.Close()
	for src, want := range map[string]string{
		`string.find("a", "%")`:             "malformed pattern (ends with '%')",
		`string.find("a", "[a")`:            "malformed pattern (missing ']')",
		`string.find("a", "(a")`:            "unfinished capture",
		`string.match("a", "a)")`:           "invalid pattern capture",
		`string.find("a", "%1")`:            "invalid capture index",
		`string.find("a", "%f")`:            "missing '[' after '%f' in pattern",
		`string.gsub("a", "a", "%2")`:       "invalid capture index",
		`string.gsub("a", "a", "%")`:        "invalid use of '%' in replacement string",
		`string.format("%5")`:               "invalid option",
		`string.format("%100d", 1)`:         "width or precision too long",
		`string.format("%.100f", 1)`:        "width or precision too long",
		`string.format("%y", 1)`:            "invalid option '%y'",
		`("a"):rep(10):gsub("a", {a = {}})`: "invalid replacement value (a table)",
	} {
		_, err := run(t, vm, "return "+src, time.Second)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to say %q", src, err, want)
		}
	}
}

func TestConcatKeepsLuaSemantics(t *testing.T) {
	vm := New(Limits{})
	defer vm.Close()
	src := `
local mt = {__concat = function(a, b)
  local x = type(a) == "table" and a.v or a
  local y = type(b) == "table" and b.v or b
  return x .. "+" .. y
end}
local o = setmetatable({v = "o"}, mt)
return "a" .. 1 .. "b", 1.5 .. "", "x" .. o, o .. "y", "p" .. "q" .. o
`
	got, err := run(t, vm, src, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if want := "a1b|1.5|x+o|o+y|pq+o"; got != want {
		t.Errorf("got %q want %q", got, want)
	}
	_, err = run(t, vm, `local t = {} return "a" .. t`, time.Second)
	if err == nil || !strings.Contains(err.Error(), "test.lua:1: attempt to concatenate local 't' (a table value)") {
		t.Errorf("concat of a table: %v", err)
	}
}

func TestLimitsStopBuildersBeforeTheyAllocate(t *testing.T) {
	vm := New(Limits{MaxStringBytes: 1 << 20})
	defer vm.Close()
	for _, src := range []string{
		`local s = "x" for i = 1, 40 do s = s .. s end`,
		`return string.rep("x", 1e9)`,
		`return ("x"):rep(2^20 + 1)`,
		`return string.rep("ab", 1e6, ",")`,
		`return (string.rep("x", 1e5):gsub("x", "yyyyyyyyyyyyyyyy"))`,
		`local t = {} for i = 1, 100 do t[i] = string.rep("x", 1e5) end return table.concat(t)`,
		`local s = string.rep("x", 6e5) return string.format("%s%s", s, s)`,
		`return unpack({}, 1, 1e8)`,
		`return string.byte(string.rep("x", 1e6), 1, -1)`,
	} {
		start := time.Now()
		_, err := run(t, vm, src, 5*time.Second)
		if err == nil || !strings.Contains(err.Error(), "too long") && !strings.Contains(err.Error(), "over the limit") && !strings.Contains(err.Error(), "too many results") {
			t.Errorf("%s: got %v, want a size-limit error", src, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: took %v to refuse", src, d)
		}
	}
	if got, err := run(t, vm, `return #string.rep("x", 2^20)`, time.Second); err != nil || got != "1048576" {
		t.Errorf("a string exactly at the limit: %q %v", got, err)
	}
}

func TestPatternBacktrackingStopsAtDeadline(t *testing.T) {
	vm := New(Limits{})
	defer vm.Close()
	start := time.Now()
	_, err := run(t, vm, `return string.find(string.rep("a", 3000), ".-.-.-.-.-.-.-b")`, 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "deadline") {
		t.Fatalf("got %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stopped after %v; the deadline was 200ms", d)
	}
}

func TestLibraryTablesAreReadOnly(t *testing.T) {
	vm := New(Limits{})
	defer vm.Close()
	for _, src := range []string{
		`string.upper = nil`,
		`rawset(string, "upper", print)`,
		`table.insert(math, 1)`,
		`table.remove(os)`,
		`table.sort(table)`,
		`setmetatable(string, nil)`,
		`getmetatable("").__index.upper = nil`,
		`setmetatable(_G, nil)`,
	} {
		if _, err := run(t, vm, src, time.Second); err == nil {
			t.Errorf("%s: allowed", src)
		}
	}
	got, err := run(t, vm, `return ("abc"):upper(), string.upper("x"), getmetatable(""), getmetatable(string)`, time.Second)
	if err != nil || got != "ABC|X|read-only|read-only" {
		t.Errorf("after the attempts: %q %v", got, err)
	}
}

func TestRandomseedIsPerRun(t *testing.T) {
	vm := New(Limits{})
	defer vm.Close()
	seeded, err := run(t, vm, `math.randomseed(7) return math.random(1, 1e9), math.random(1, 1e9)`, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := run(t, vm, `math.randomseed(7) return math.random(1, 1e9), math.random(1, 1e9)`, time.Second)
	if seeded != again {
		t.Errorf("same seed, different sequence: %s vs %s", seeded, again)
	}
	vm.Reset()
	other, _ := run(t, vm, `return math.random(1, 1e9), math.random(1, 1e9)`, time.Second)
	if other == seeded {
		t.Errorf("the next run replayed the previous run's seeded sequence %s", seeded)
	}
}

// TestGenericForStartsFromNil: gopher-lua leaves the control slot of
// `for k in next, t` unset, so the loop could start from a stale value and
// skip keys; Compile pads the explist with nil.
func TestGenericForStartsFromNil(t *testing.T) {
	vm := New(Limits{})
	defer vm.Close()
	got, err := run(t, vm, `
r = {params = {}}
r.params.x = "" r.params.code = "b" r.params.team = "ops"
local seen = {}
for k, v in pairs(r.params) do seen[#seen + 1] = k end
local a = 0 for k in next, r.params do a = a + 1 end
local t = r.params
local b = 0 for k, v in next, t, nil do b = b + 1 end
local c = 0 for k in pairs(t) do c = c + 1 end
local function three() return next, t, nil end
local d = 0 for k in three() do d = d + 1 end
return a, b, c, d`, time.Second)
	if err != nil || got != "3|3|3|3" {
		t.Errorf("iteration counts %q (%v), want 3|3|3|3", got, err)
	}
}

// TestCompileRejectsDeepNesting: gopher-lua's compiler recurses per level of
// the syntax tree, so a deeply nested file must be refused before it gets
// there; ordinary long chains still compile.
func TestCompileRejectsDeepNesting(t *testing.T) {
	for name, src := range map[string]string{
		"not":    "return " + strings.Repeat("not ", 5000) + "1",
		"tables": "return " + strings.Repeat("{", 5000) + strings.Repeat("}", 5000),
		"blocks": strings.Repeat("do ", 5000) + strings.Repeat("end ", 5000),
	} {
		_, err := Compile([]byte(src), "deep.lua")
		var ce *CompileError
		if !errors.As(err, &ce) || !strings.Contains(ce.Message, "nested more than") {
			t.Errorf("%s: %v", name, err)
		}
	}
	sum := "return " + strings.Repeat("1 + ", 300) + "1"
	vm := New(Limits{})
	defer vm.Close()
	if got, err := run(t, vm, sum, time.Second); err != nil || got != "301" {
		t.Errorf("a 301-term sum: %q %v", got, err)
	}
}
