package sandbox

import (
	"strconv"

	"github.com/yuin/gopher-lua/ast"
)

// gopher-lua compiles a multiple assignment's values straight into the
// registers of the local variables it assigns, so a later value, or a
// table target, that reads one of those locals sees its new value:
// `a, b = b, a` leaves both equal, and `t, t.x = {}, 1` sets x in the new
// table. Lua 5.1 evaluates every table and key of the targets, then every
// value, and only then assigns. A multiple assignment to a local of the
// function is rewritten to do just that, with hidden locals:
//
//	do
//	  local (assign 1), (assign 2) = <table of t.x>, <key, unless a constant>
//	  local (assign 3), (assign 4) = <the values, adjusted as in an assignment>
//	  t.x = (assign 4); a = (assign 3)  -- last target first, as Lua 5.1 does
//	end
//
// Each hidden local takes a register for the statement only (a function may
// have 200 at once: an assignment to dozens of table fields at once can
// reach it and is refused with "too many local variables"). Other
// assignments compile unchanged.

// needsSplit reports whether s assigns several targets, one of them a local
// of the function being walked.
func (r *rewriter) needsSplit(s *ast.AssignStmt) bool {
	if len(s.Lhs) < 2 {
		return false
	}
	for _, l := range s.Lhs {
		if id, ok := l.(*ast.IdentExpr); ok {
			if d := r.scope[id.Value]; len(d) > 0 && r.declared[d[len(d)-1]].fn == r.fn {
				return true
			}
		}
	}
	return false
}

// splitAssign is s as the block above.
func splitAssign(s *ast.AssignStmt) ast.Stmt {
	line, last := s.Line(), s.LastLine()
	n := 0
	hidden := func() string {
		n++
		return "(assign " + strconv.Itoa(n) + ")"
	}
	ref := func(name string) ast.Expr {
		id := &ast.IdentExpr{Value: name}
		id.SetLine(line)
		id.SetLastLine(last)
		return id
	}
	pre := &ast.LocalAssignStmt{}
	targets := make([]ast.Expr, len(s.Lhs))
	for i, l := range s.Lhs {
		a, ok := l.(*ast.AttrGetExpr)
		if !ok {
			targets[i] = l
			continue
		}
		t := &ast.AttrGetExpr{Key: a.Key}
		t.SetLine(a.Line())
		t.SetLastLine(a.LastLine())
		obj := hidden()
		pre.Names = append(pre.Names, obj)
		pre.Exprs = append(pre.Exprs, a.Object)
		t.Object = ref(obj)
		switch a.Key.(type) {
		case *ast.StringExpr, *ast.NumberExpr:
		default:
			key := hidden()
			pre.Names = append(pre.Names, key)
			pre.Exprs = append(pre.Exprs, a.Key)
			t.Key = ref(key)
		}
		targets[i] = t
	}
	vals := &ast.LocalAssignStmt{Exprs: s.Rhs}
	for range targets {
		vals.Names = append(vals.Names, hidden())
	}
	var body []ast.Stmt
	if len(pre.Names) > 0 {
		body = append(body, pre)
	}
	body = append(body, vals)
	for i := len(targets) - 1; i >= 0; i-- {
		body = append(body, &ast.AssignStmt{Lhs: []ast.Expr{targets[i]}, Rhs: []ast.Expr{ref(vals.Names[i])}})
	}
	block := &ast.DoBlockStmt{Stmts: body}
	for _, st := range append(body, block) {
		st.SetLine(line)
		st.SetLastLine(last)
	}
	return block
}
