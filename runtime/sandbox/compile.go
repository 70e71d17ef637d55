package sandbox

import (
	"bytes"
	"fmt"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"
)

// concatFunc is the global the .. operator is rewritten to call.
const concatFunc = "__dialua_concat"

// MaxNesting is how deeply statements and expressions may nest in the
// syntax tree. gopher-lua's compiler recurses once per level, and a file of
// a million nested "not"s would overflow the Go stack and take the process
// down. The tree nests for every operator of a chain (a + b + c is two
// levels), so the limit is well above Lua's 200 levels of blocks and
// parentheses.
const MaxNesting = 1000

// CompileError is a problem Compile found itself (the parser's and the
// compiler's errors keep their own types).
type CompileError struct {
	Line    int
	Message string
}

func (e *CompileError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Message) }

// Compile parses and compiles a script for running in a VM. name is the
// chunk name errors and tracebacks show (the script's path). Every ..
// expression becomes a call to the VM's bounded concatenation, so no Lua
// instruction can build an unbounded string; the rest compiles unchanged.
func Compile(src []byte, name string) (*lua.FunctionProto, error) {
	chunk, err := parse.Parse(bytes.NewReader(src), name)
	if err != nil {
		return nil, err
	}
	r := rewriter{}
	r.stmts(chunk)
	if r.err != nil {
		return nil, r.err
	}
	proto, err := lua.Compile(chunk, name)
	if err != nil {
		return nil, err
	}
	dropImplicitArg(proto)
	return proto, nil
}

// dropImplicitArg turns off Lua 5.0's implicit `arg` table for vararg
// functions: gopher-lua would build it on every call of every vararg
// function, every script's main chunk included, whether or not the code reads
// it. Scripts use ... and select() instead.
func dropImplicitArg(p *lua.FunctionProto) {
	p.IsVarArg &^= lua.VarArgNeedsArg
	for _, child := range p.FunctionPrototypes {
		dropImplicitArg(child)
	}
}

// rewriter walks the AST once: it rewrites .. into calls, pads generic-for
// explists, and stops at the first construct nested deeper than MaxNesting.
type rewriter struct {
	depth int
	err   error
}

// enter counts one level; false means stop (too deep, or already failed).
func (r *rewriter) enter(line int) bool {
	r.depth++
	if r.err == nil && r.depth > MaxNesting {
		r.err = &CompileError{Line: line, Message: fmt.Sprintf("nested more than %d levels deep", MaxNesting)}
	}
	return r.err == nil
}

func (r *rewriter) leave() { r.depth-- }

func (r *rewriter) stmts(stmts []ast.Stmt) {
	for _, s := range stmts {
		r.stmt(s)
	}
}

func (r *rewriter) stmt(s ast.Stmt) {
	defer r.leave()
	if !r.enter(s.Line()) {
		return
	}
	switch s := s.(type) {
	case *ast.AssignStmt:
		r.exprs(s.Lhs)
		r.exprs(s.Rhs)
	case *ast.LocalAssignStmt:
		r.exprs(s.Exprs)
	case *ast.FuncCallStmt:
		s.Expr = r.expr(s.Expr)
	case *ast.DoBlockStmt:
		r.stmts(s.Stmts)
	case *ast.WhileStmt:
		s.Condition = r.expr(s.Condition)
		r.stmts(s.Stmts)
	case *ast.RepeatStmt:
		s.Condition = r.expr(s.Condition)
		r.stmts(s.Stmts)
	case *ast.IfStmt:
		s.Condition = r.expr(s.Condition)
		r.stmts(s.Then)
		r.stmts(s.Else)
	case *ast.NumberForStmt:
		s.Init = r.expr(s.Init)
		s.Limit = r.expr(s.Limit)
		s.Step = r.expr(s.Step)
		r.stmts(s.Stmts)
	case *ast.GenericForStmt:
		r.exprs(s.Exprs)
		s.Exprs = padForExprs(s.Exprs)
		r.stmts(s.Stmts)
	case *ast.FuncDefStmt:
		s.Name.Func = r.expr(s.Name.Func)
		s.Name.Receiver = r.expr(s.Name.Receiver)
		r.stmts(s.Func.Stmts)
	case *ast.ReturnStmt:
		r.exprs(s.Exprs)
	}
}

// padForExprs makes `for k in next, t do` start from nil. gopher-lua's
// compiler does not clear the control slot when the explist has fewer than
// three values and does not end in a call, so the loop starts from whatever a
// register held before and can skip keys. An explicit nil gives the slot its
// value; an explist ending in a call or ... is left alone, as its values fill
// the slots.
func padForExprs(es []ast.Expr) []ast.Expr {
	if len(es) == 0 || len(es) >= 3 {
		return es
	}
	switch es[len(es)-1].(type) {
	case *ast.FuncCallExpr, *ast.Comma3Expr:
		return es
	}
	for len(es) < 3 {
		n := &ast.NilExpr{}
		n.SetLine(es[len(es)-1].Line())
		n.SetLastLine(es[len(es)-1].LastLine())
		es = append(es, n)
	}
	return es
}

func (r *rewriter) exprs(es []ast.Expr) {
	for i := range es {
		es[i] = r.expr(es[i])
	}
}

func (r *rewriter) expr(e ast.Expr) ast.Expr {
	if e == nil {
		return nil
	}
	defer r.leave()
	if !r.enter(e.Line()) {
		return e
	}
	switch e := e.(type) {
	case *ast.StringConcatOpExpr:
		// a .. b .. c parses right-nested; flatten the right spine into one
		// call, as Lua's own CONCAT takes the whole run at once.
		var args []ast.Expr
		var cur ast.Expr = e
		for {
			c, ok := cur.(*ast.StringConcatOpExpr)
			if !ok {
				args = append(args, r.expr(cur))
				break
			}
			args = append(args, r.expr(c.Lhs))
			cur = c.Rhs
		}
		fn := &ast.IdentExpr{Value: concatFunc}
		fn.SetLine(e.Line())
		fn.SetLastLine(e.LastLine())
		call := &ast.FuncCallExpr{Func: fn, Args: args}
		call.SetLine(e.Line())
		call.SetLastLine(e.LastLine())
		return call
	case *ast.AttrGetExpr:
		e.Object = r.expr(e.Object)
		e.Key = r.expr(e.Key)
	case *ast.TableExpr:
		for _, f := range e.Fields {
			f.Key = r.expr(f.Key)
			f.Value = r.expr(f.Value)
		}
	case *ast.FuncCallExpr:
		e.Func = r.expr(e.Func)
		e.Receiver = r.expr(e.Receiver)
		r.exprs(e.Args)
	case *ast.LogicalOpExpr:
		e.Lhs = r.expr(e.Lhs)
		e.Rhs = r.expr(e.Rhs)
	case *ast.RelationalOpExpr:
		e.Lhs = r.expr(e.Lhs)
		e.Rhs = r.expr(e.Rhs)
	case *ast.ArithmeticOpExpr:
		e.Lhs = r.expr(e.Lhs)
		e.Rhs = r.expr(e.Rhs)
	case *ast.UnaryMinusOpExpr:
		e.Expr = r.expr(e.Expr)
	case *ast.UnaryNotOpExpr:
		e.Expr = r.expr(e.Expr)
	case *ast.UnaryLenOpExpr:
		e.Expr = r.expr(e.Expr)
	case *ast.FunctionExpr:
		r.stmts(e.Stmts)
	}
	return e
}
