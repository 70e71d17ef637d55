package sandbox

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// FuzzConcat checks the .. rewrite in Compile against a model of Lua 5.1's
// concatenation. The fuzzed bytes drive a small grammar of concatenation
// expressions (string and number literals, locals, fields, method calls,
// calls returning zero, one or two values, varargs, parenthesised calls,
// nested and parenthesised chains, operands with and without __concat) in a
// few statement contexts; the model computes, without .., what Lua gives:
// each operand cut to its first value, folded from the right, numbers
// written as tostring writes them, a __concat metamethod called where an
// operand is not a string or number, otherwise "attempt to concatenate a
// <type> value". The rewritten code must give exactly that.
//
//	go test -run XXX -fuzz FuzzConcat -fuzztime 60s -parallel 1 ./runtime/sandbox/
func FuzzConcat(f *testing.F) {
	// Seeds are in testdata/fuzz/FuzzConcat: the bytes are the vararg
	// count, the statement context, then the chain (its length, then each
	// operand's selector; see operand and chain).

	vm := New(Limits{})
	f.Cleanup(func() { vm.Close() })
	f.Fuzz(func(t *testing.T, prog []byte) {
		g := &concatGen{b: prog}
		nargs := int(g.next() % 4)
		g.nargs = nargs
		ctx := g.next() % 10
		e := g.chain(0)
		src := concatPrelude + wrapConcat(ctx, e.src)
		if vm == nil {
			vm = New(Limits{})
		}
		got, err := runConcatChunk(vm, src, nargs)
		if err != nil {
			// A failed run's VM is thrown away, as the engine does.
			vm.Close()
			vm = nil
		}
		var ok bool
		var why string
		switch {
		case e.err != "" && err == nil:
			why = "want an error (concatenating a " + e.err + " value), got " + quoteLua(got.String())
		case e.err != "" && !concatErrorAbout(err.Error(), e.err):
			why = "want error about a " + e.err + " value, got " + err.Error()
		case e.err == "" && err != nil:
			why = "want " + quoteLua(e.v.s) + ", got error " + err.Error()
		case e.err == "" && got != lua.LString(e.v.s):
			why = "want " + quoteLua(e.v.s) + ", got " + quoteLua(got.String()) + " (" + got.Type().String() + ")"
		default:
			ok = true
		}
		if ok {
			return
		}
		t.Fatalf("%s\nwith %d varargs:\n%s", why, nargs, src)
	})
}

// concatPrelude defines what the generated operands use. No .. in it, so
// the model does not depend on the code under test.
const concatPrelude = `local function f0() end
local function f1() return "one" end
local function f2() return "two", "extra" end
local function fnum() return 2.5 end
local c = 0
local function tick() c = c + 1 return c end
local function id(...) return ... end
local s, t = "str", {x = "tx", n = 7}
local M = setmetatable({}, {__concat = function() return "M" end})
local T = {}
`

// wrapConcat puts the expression in one of several statement contexts, as
// the rewrite must work wherever an expression can be.
func wrapConcat(ctx byte, e string) string {
	switch ctx {
	case 1:
		return "local x = " + e + "\nreturn x"
	case 2:
		return "return id(" + e + ")"
	case 3:
		return "return ({" + e + "})[1]"
	case 4:
		// The spaces keep a leading [[x]] from reading as [[[.
		return "local k = {[ " + e + " ] = true}\nreturn next(k)"
	case 5:
		return "return (function(...) return " + e + " end)(...)"
	case 6:
		return "for i = 1, 1 do\n  local x = " + e + "\n  return x\nend"
	case 7:
		return "x = " + e + "\nreturn x"
	case 8:
		return "local r = {}\nr.k = " + e + "\nreturn r.k"
	case 9:
		return "if true then return " + e + " end"
	}
	return "return " + e
}

// runConcatChunk compiles and runs src with nargs varargs ("v1", "v2", 3)
// and returns its first result.
func runConcatChunk(vm *VM, src string, nargs int) (lua.LValue, error) {
	proto, err := Compile([]byte(src), "fuzz.lua")
	if err != nil {
		return lua.LNil, err
	}
	L := vm.L
	fn := L.NewFunctionFromProto(proto)
	fn.Env = vm.NewEnv()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	L.SetContext(ctx)
	defer L.RemoveContext()
	top := L.GetTop()
	L.Push(fn)
	for _, a := range []lua.LValue{lua.LString("v1"), lua.LString("v2"), lua.LNumber(3)}[:nargs] {
		L.Push(a)
	}
	if err := L.PCall(nargs, lua.MultRet, nil); err != nil {
		return lua.LNil, err
	}
	defer L.SetTop(top)
	if L.GetTop() == top {
		return lua.LNil, nil
	}
	return L.Get(top + 1), nil
}

// cval is the model's value of an operand's first value: kind 's' is a
// string or number (s is how .. writes it), 'm' the table with __concat,
// otherwise the Lua type name of a value .. refuses.
type cval struct {
	kind byte
	s    string
	typ  string
}

func str(s string) cval { return cval{kind: 's', s: s} }

func number(n float64) cval { return str(lua.LNumber(n).String()) }

var (
	nilVal   = cval{typ: "nil"}
	boolVal  = cval{typ: "boolean"}
	tableVal = cval{typ: "table"}
	metaVal  = cval{kind: 'm', typ: "table"}
)

// cexpr is a generated operand or chain: its source, its first value, how
// many values it yields where a call's results are not cut (nvals), and
// err, the type name of the value a concatenation inside it refuses.
type cexpr struct {
	src   string
	v     cval
	nvals int
	err   string
}

type concatGen struct {
	b     []byte
	i     int
	nargs int
	ticks int
}

func (g *concatGen) next() byte {
	if g.i >= len(g.b) {
		return 0
	}
	c := g.b[g.i]
	g.i++
	return c
}

func (g *concatGen) vararg(i int) cval {
	if i >= g.nargs {
		return nilVal
	}
	return []cval{str("v1"), str("v2"), number(3)}[i]
}

var concatStrings = []struct{ src, val string }{
	{`"a"`, "a"}, {`''`, ""}, {`"\n"`, "\n"}, {`"\0z"`, "\x00z"}, {`[[x]]`, "x"},
	{`"\"q\""`, `"q"`}, {`"é"`, "é"}, {`"1"`, "1"},
}

var concatNumbers = []struct {
	src string
	val float64
}{
	{"1", 1}, {"2.5", 2.5}, {"1e3", 1000}, {"0x10", 16}, {"-3", -3}, {"0.1", 0.1},
	{"1e100", 1e100}, {"2^53", 1 << 53}, {"-0.5", -0.5}, {"10/4", 2.5}, {"7 % 3", 1},
}

// operand generates one operand; the cases are in the order of their
// selector byte, which the seeds rely on.
func (g *concatGen) operand(depth int) cexpr {
	one := func(src string, v cval) cexpr { return cexpr{src: src, v: v, nvals: 1} }
	switch c := g.next(); c % 18 {
	case 0:
		s := concatStrings[int(g.next())%len(concatStrings)]
		return one(s.src, str(s.val))
	case 1:
		n := concatNumbers[int(g.next())%len(concatNumbers)]
		return one(n.src, number(n.val))
	case 2:
		return one("s", str("str"))
	case 3:
		return one("f1()", str("one"))
	case 4:
		return cexpr{src: "f2()", v: str("two"), nvals: 2}
	case 5:
		return cexpr{src: "f0()", v: nilVal, nvals: 0}
	case 6:
		return cexpr{src: "...", v: g.vararg(0), nvals: g.nargs}
	case 7:
		return one("(f2())", str("two"))
	case 8:
		return one("(...)", g.vararg(0))
	case 9:
		g.ticks++
		return one("tick()", number(float64(g.ticks)))
	case 10:
		if depth >= 3 {
			return one("t.x", str("tx"))
		}
		e := g.chain(depth + 1)
		return cexpr{src: "(" + e.src + ")", v: e.v, nvals: 1, err: e.err}
	case 11:
		return one("t.n", number(7))
	case 12:
		return one("s:upper()", str("STR"))
	case 13:
		if depth >= 3 {
			return one("fnum()", number(2.5))
		}
		e := g.operand(depth + 1)
		e.src = "id(" + e.src + ")"
		return e
	case 14:
		return one("nil", nilVal)
	case 15:
		return one([]string{"true", "false"}[c/18%2], boolVal)
	case 16:
		return one("M", metaVal)
	case 17:
		return one("T", tableVal)
	}
	panic("unreachable")
}

// chain generates a .. b [.. c ...] and evaluates it as Lua would.
func (g *concatGen) chain(depth int) cexpr {
	n := 2 + int(g.next()%4)
	ops := make([]cexpr, n)
	srcs := make([]string, n)
	for i := range ops {
		ops[i] = g.operand(depth)
		srcs[i] = ops[i].src
	}
	out := cexpr{src: strings.Join(srcs, " .. "), nvals: 1}
	// Operands are evaluated left to right before any concatenation, so
	// the first failing nested chain is the error.
	for _, o := range ops {
		if o.err != "" {
			out.err = o.err
			return out
		}
	}
	acc := ops[n-1].v
	for i := n - 2; i >= 0; i-- {
		lhs := ops[i].v
		switch {
		case lhs.kind == 's' && acc.kind == 's':
			acc = str(lhs.s + acc.s)
		case lhs.kind == 'm' || acc.kind == 'm':
			acc = str("M")
		case lhs.kind != 's':
			out.err = lhs.typ
			return out
		default:
			out.err = acc.typ
			return out
		}
	}
	out.v = acc
	return out
}

func quoteLua(s string) string { return strconv.Quote(s) }

// concatErrorAbout reports whether msg is Lua 5.1's concatenation error
// about a value of type typ, the operand named or not.
func concatErrorAbout(msg, typ string) bool {
	return strings.Contains(msg, "attempt to concatenate a "+typ+" value") ||
		regexp.MustCompile(`attempt to concatenate (global|local|upvalue|field) '[^']*' \(a `+typ+` value\)`).MatchString(msg)
}
