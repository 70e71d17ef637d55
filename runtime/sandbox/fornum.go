package sandbox

import (
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
)

// Lua 5.1 converts a numeric for's initial value, limit and step from
// strings as arithmetic does (`for i = "1", "3"` counts to 3); gopher-lua
// refuses them. Compile passes each bound that is not a numeric constant or
// arithmetic (whose value is a number already) through forNumber, once as
// the loop starts.

// forBound walks a bound and wraps it in the conversion when it may be a
// string.
func (r *rewriter) forBound(e ast.Expr, what string) ast.Expr {
	e = r.expr(e)
	if e == nil || r.isNum {
		return e
	}
	switch e.(type) {
	case *ast.ArithmeticOpExpr, *ast.UnaryMinusOpExpr, *ast.UnaryLenOpExpr:
		return e
	}
	r.name(forNumFunc, e.Line())
	r.constant(constKey{s: what}, e.Line())
	fn := &ast.IdentExpr{Value: forNumFunc}
	arg := &ast.StringExpr{Value: what}
	call := &ast.FuncCallExpr{Func: fn, Args: []ast.Expr{e, arg}}
	for _, n := range []ast.Expr{fn, arg, call} {
		n.SetLine(e.Line())
		n.SetLastLine(e.LastLine())
	}
	r.isNum, r.folds = false, 1
	return call
}

// forNumber(v, what) is v as a number, converted from a string as Lua 5.1
// converts one, or the error Lua 5.1 raises for that bound.
func forNumber(L *lua.LState) int {
	arg := L.Get(1)
	switch v := arg.(type) {
	case lua.LNumber:
		L.Push(arg) // as it came: boxing v again would allocate
		return 1
	case lua.LString:
		if n, ok := stringNumber(string(v)); ok {
			L.Push(lua.LNumber(n))
			return 1
		}
	}
	L.RaiseError("'for' %s must be a number", L.CheckString(2))
	return 0
}

// stringNumber converts s as gopher-lua converts a string operand of
// arithmetic ("10" + 1), so a bound and a sum agree on what is a number.
func stringNumber(s string) (float64, bool) {
	s = strings.Trim(s, " \t\n")
	if v, err := strconv.ParseInt(s, 0, 64); err == nil {
		return float64(v), true
	}
	v, err := strconv.ParseFloat(s, 64)
	return v, err == nil
}
