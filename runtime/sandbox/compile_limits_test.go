package sandbox

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// items is n positional items "1,2,...,99,0,1,..." for a table constructor
// (few distinct constants: item i is i%100).
func items(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%d,", i%100)
	}
	return b.String()
}

// Table constructors the compiler used to get wrong come out as Lua 5.1
// builds them.
func TestTableConstructors(t *testing.T) {
	vm := New(Limits{})
	defer vm.Close()
	cases := []struct{ name, src, want string }{
		{"80,000 items", "local t = {" + items(80000) + "} return #t, t[25550], t[25551], t[80000], t[0], t[-49]",
			"80000|50|51|0|nil|nil"},
		{"keyed call after a partial block", "local function f() return 'a', 'b' end local t = {1, 2, 3, x = f()} " +
			"return #t, t[4], t.x", "3|nil|a"},
		{"keyed ... after a partial block", "local function g(...) return {1, 2, 3, x = ...} end local t = g('a', 'b') " +
			"return #t, t[4], t.x", "3|nil|a"},
		{"keyed field after a full block", "local function f() return 'a' end local t = {" + items(50) +
			" x = f()} return #t, t[1], t[50], t.x", "50|1|50|a"},
		{"keyed fields after full blocks", "local function f() return 'a' end local t = {" + items(100) +
			" x = f(), y = f(), " + items(3) + "} return #t, t[1], t[51], t[100], t[101], t[103], t.y", "103|1|51|0|1|3|a"},
		{"call after a full block", "local function f() return 'a', 'b' end local t = {" + items(50) +
			" f()} return #t, t[1], t[2], t[50], t[51], t[52]", "52|1|2|50|a|b"},
		{"... after a full block", "local function g(...) return {" + items(100) + " ...} end local t = g('a', 'b', 'c') " +
			"return #t, t[1], t[100], t[101], t[103]", "103|1|0|a|c"},
		{"call after 25,600 items", "local function f() return 'a', 'b' end local t = {" + items(25600) +
			" f()} return #t, t[25600], t[25601], t[25602], t[1]", "25602|0|a|b|1"},
		{"nested big tables", "local t = {" + items(26000) + " {" + items(26000) + "}, " + items(10) + "} " +
			"return #t, t[26001][25999], #t[26001], t[26011], t[25999]", "26011|99|26000|10|99"},
	}
	for _, c := range cases {
		got, err := run(t, vm, c.src, 5*time.Second)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got != c.want {
			t.Errorf("%s: got %s, want %s", c.name, got, c.want)
		}
	}
}

// The one constructor the bytecode cannot express is refused, naming its
// line, rather than built wrong.
func TestTableConstructorRefused(t *testing.T) {
	src := "local function f() return 1 end\n\nlocal t = {\n" + items(25550) + "\nf()}\n"
	_, err := Compile([]byte(src), "big.lua")
	var ce *CompileError
	if !errors.As(err, &ce) {
		t.Fatalf("got %v, want a CompileError", err)
	}
	if ce.Line != 5 || !strings.Contains(ce.Message, "25550 positional items before a final call") {
		t.Errorf("got line %d: %s", ce.Line, ce.Message)
	}
}

// wantLimit compiles src and checks it is refused at line with a message
// containing msg, and quickly: the point is not to pay the compile.
func wantLimit(t *testing.T, name, src string, line int, msg string) {
	t.Helper()
	start := time.Now()
	_, err := Compile([]byte(src), "x.lua")
	took := time.Since(start)
	var ce *CompileError
	if !errors.As(err, &ce) {
		t.Errorf("%s: got %v, want a CompileError", name, err)
		return
	}
	if (line > 0 && ce.Line != line) || !strings.Contains(ce.Message, msg) {
		t.Errorf("%s: got line %d: %s; want line %d and %q", name, ce.Line, ce.Message, line, msg)
	}
	// Parsing alone takes this long; the compiler would have taken many
	// seconds (tens for the constants).
	if took > 3*time.Second {
		t.Errorf("%s: refused after %v", name, took)
	}
}

func TestCompileLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("return {\n")
	for i := 0; i < MaxConstants+100; i++ {
		fmt.Fprintf(&b, "%q,\n", fmt.Sprint("s", i))
	}
	b.WriteString("}\n")
	wantLimit(t, "distinct constants", b.String(), MaxConstants+2, fmt.Sprintf("more than %d distinct constants", MaxConstants))

	// Few distinct constants, each used many times, late in a long list.
	b.Reset()
	b.WriteString("local t = {\n")
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&b, "%q,", fmt.Sprint("s", i))
	}
	b.WriteString("\n")
	for b.Len() < 1<<20-100 {
		b.WriteString("s,")
	}
	b.WriteString("}")
	wantLimit(t, "constant uses", b.String(), 3, "too long to compile: too many uses of constants")

	b.Reset()
	for b.Len() < 1<<20-5000 {
		b.WriteString("x = y")
		for i := 0; i < 900; i++ {
			b.WriteString("+1")
		}
		b.WriteString("\n")
	}
	wantLimit(t, "arithmetic chains", b.String(), 0, "arithmetic expressions nested too deeply")

	b.Reset()
	for i := 0; i < 450; i++ {
		b.WriteString("local function f()\n")
	}
	b.WriteString("local t = {")
	for b.Len() < 1<<20-10000 {
		b.WriteString("g,")
	}
	b.WriteString("}")
	for i := 0; i < 450; i++ {
		b.WriteString(" end")
	}
	wantLimit(t, "names in nested functions", b.String(), 451, "too many names looked up")

	b.Reset()
	for b.Len() < 1<<20-100 {
		b.WriteString("f = function() end\n")
	}
	wantLimit(t, "functions", b.String(), 0, "too many functions")

	b.Reset()
	b.WriteString("local a0")
	for i := 1; i < 180; i++ {
		fmt.Fprintf(&b, ", a%d", i)
	}
	b.WriteString("\nlocal function f()\nlocal b0")
	for i := 1; i < 100; i++ {
		fmt.Fprintf(&b, ", b%d", i)
	}
	b.WriteString("\nreturn function()\nreturn a0")
	for i := 1; i < 180; i++ {
		fmt.Fprintf(&b, ", a%d", i)
	}
	for i := 0; i < 100; i++ {
		fmt.Fprintf(&b, ",\nb%d", i)
	}
	b.WriteString("\nend\nend\n")
	wantLimit(t, "upvalues", b.String(), 81, fmt.Sprintf("uses more than %d locals of enclosing functions", MaxUpvalues))
}

// Large files of ordinary code stay accepted, and compile quickly.
func TestLargeOrdinaryFiles(t *testing.T) {
	var b strings.Builder
	b.WriteString("local n = 0\n")
	for i := 0; b.Len() < 1<<20-200; i++ {
		fmt.Fprintf(&b, "if request.params.key%d == 'v%d' then n = n + %d response:set_var('k', 'v') end\n", i%500, i%700, i%50)
	}
	b.WriteString("return n\n")
	start := time.Now()
	if _, err := Compile([]byte(b.String()), "big.lua"); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d bytes compiled in %v", b.Len(), time.Since(start))

	b.Reset()
	b.WriteString("return {\n")
	for i := 0; i < MaxConstants-100; i++ {
		fmt.Fprintf(&b, "{code = %q, tier = %q},\n", fmt.Sprint(100000+i), []string{"gold", "silver", "bronze"}[i%3])
	}
	b.WriteString("}\n")
	start = time.Now()
	if _, err := Compile([]byte(b.String()), "data.lua"); err != nil {
		t.Fatal(err)
	}
	t.Logf("data module of %d bytes compiled in %v", b.Len(), time.Since(start))
}
