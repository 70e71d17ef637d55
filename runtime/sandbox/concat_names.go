package sandbox

import (
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
)

// Lua 5.1 names the operand .. failed on: "attempt to concatenate global
// 'nil_var' (a nil value)". Once .. is a call, gopher-lua knows nothing of
// the operands, so Compile writes down what it saw: for every rewritten ..
// of a function, its line, its operand count and what each operand is
// (global, local, upvalue or field, with its name), in one extra string
// constant at the end of that function's constants. No instruction loads it,
// so it costs nothing at run time; the concatenation reads it only when it
// fails, from the calling function.

// sitesMarker starts the extra constant. It is always the last constant of a
// function that has rewritten .. expressions, so a script's own string
// constant cannot be taken for it.
const sitesMarker = "\x00dialua concat sites\n"

// concatSite is one rewritten .. expression.
type concatSite struct {
	line  int
	names []string // per operand: "global 'x'" and so on, "" for others
}

// operandName is how Lua 5.1's messages name an operand, or "".
func (r *rewriter) operandName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.IdentExpr:
		s := r.scope[e.Value]
		switch {
		case len(s) == 0:
			return "global '" + e.Value + "'"
		case r.declared[s[len(s)-1]].fn == r.fn:
			return "local '" + e.Value + "'"
		default:
			return "upvalue '" + e.Value + "'"
		}
	case *ast.AttrGetExpr:
		// A key that would not fit on one line of the sites is left
		// unnamed, as is a long one.
		if k, ok := e.Key.(*ast.StringExpr); ok && len(k.Value) <= 64 && !strings.ContainsAny(k.Value, "\t\n") {
			return "field '" + k.Value + "'"
		}
	}
	return ""
}

// attachSites appends each function's sites to its compiled prototype. The
// compiler makes prototypes in the order the rewriter met the functions; a
// function whose children do not line up (count or first line) gets no
// names below it rather than wrong ones.
func attachSites(p *lua.FunctionProto, fn *function) {
	if len(fn.sites) > 0 {
		var b strings.Builder
		b.WriteString(sitesMarker)
		for _, s := range fn.sites {
			b.WriteString(strconv.Itoa(s.line))
			for _, n := range s.names {
				b.WriteByte('\t')
				b.WriteString(n)
			}
			b.WriteByte('\n')
		}
		p.Constants = append(p.Constants, lua.LString(b.String()))
	}
	if len(p.FunctionPrototypes) != len(fn.children) {
		return
	}
	for i, child := range p.FunctionPrototypes {
		if child.LineDefined != fn.children[i].line {
			return
		}
	}
	for i, child := range p.FunctionPrototypes {
		attachSites(child, fn.children[i])
	}
}

// concatOperand names operand i (1-based) of the failing concatenation of n
// operands, from the sites of the calling function at its current line; ""
// when it has no name or the line has two candidates that disagree. The
// walk over the sites is counted as work done, as it is as long as the
// function is.
func (vm *VM) concatOperand(L *lua.LState, n, i int) string {
	dbg, ok := L.GetStack(1)
	if !ok {
		return ""
	}
	fv, err := L.GetInfo("fl", dbg, lua.LNil)
	if err != nil {
		return ""
	}
	lf, ok := fv.(*lua.LFunction)
	if !ok || lf.Proto == nil || len(lf.Proto.Constants) == 0 {
		return ""
	}
	c, ok := lf.Proto.Constants[len(lf.Proto.Constants)-1].(lua.LString)
	if !ok || !strings.HasPrefix(string(c), sitesMarker) {
		return ""
	}
	vm.made(L, len(c))
	rest := string(c)[len(sitesMarker):]
	prefix := strconv.Itoa(dbg.CurrentLine) + "\t"
	name, found := "", false
	for rest != "" {
		var site string
		site, rest, _ = strings.Cut(rest, "\n")
		operands, ok := strings.CutPrefix(site, prefix)
		if !ok || strings.Count(operands, "\t") != n-1 {
			continue
		}
		for range i - 1 {
			_, operands, _ = strings.Cut(operands, "\t")
		}
		this, _, _ := strings.Cut(operands, "\t")
		if found && this != name {
			return ""
		}
		name, found = this, true
	}
	return name
}
