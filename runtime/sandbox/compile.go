package sandbox

import (
	"bytes"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"
)

// concatFunc is the global the .. operator is rewritten to call.
const concatFunc = "__dialua_concat"

// Compile parses and compiles a script for running in a VM. name is the
// chunk name errors and tracebacks show (the script's path). Every ..
// expression becomes a call to the VM's bounded concatenation, so no Lua
// instruction can build an unbounded string; the rest compiles unchanged.
func Compile(src []byte, name string) (*lua.FunctionProto, error) {
	chunk, err := parse.Parse(bytes.NewReader(src), name)
	if err != nil {
		return nil, err
	}
	rewriteStmts(chunk)
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

func rewriteStmts(stmts []ast.Stmt) {
	for _, s := range stmts {
		rewriteStmt(s)
	}
}

func rewriteStmt(s ast.Stmt) {
	switch s := s.(type) {
	case *ast.AssignStmt:
		rewriteExprs(s.Lhs)
		rewriteExprs(s.Rhs)
	case *ast.LocalAssignStmt:
		rewriteExprs(s.Exprs)
	case *ast.FuncCallStmt:
		s.Expr = rewrite(s.Expr)
	case *ast.DoBlockStmt:
		rewriteStmts(s.Stmts)
	case *ast.WhileStmt:
		s.Condition = rewrite(s.Condition)
		rewriteStmts(s.Stmts)
	case *ast.RepeatStmt:
		s.Condition = rewrite(s.Condition)
		rewriteStmts(s.Stmts)
	case *ast.IfStmt:
		s.Condition = rewrite(s.Condition)
		rewriteStmts(s.Then)
		rewriteStmts(s.Else)
	case *ast.NumberForStmt:
		s.Init = rewrite(s.Init)
		s.Limit = rewrite(s.Limit)
		s.Step = rewrite(s.Step)
		rewriteStmts(s.Stmts)
	case *ast.GenericForStmt:
		rewriteExprs(s.Exprs)
		s.Exprs = padForExprs(s.Exprs)
		rewriteStmts(s.Stmts)
	case *ast.FuncDefStmt:
		s.Name.Func = rewrite(s.Name.Func)
		s.Name.Receiver = rewrite(s.Name.Receiver)
		rewriteStmts(s.Func.Stmts)
	case *ast.ReturnStmt:
		rewriteExprs(s.Exprs)
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

func rewriteExprs(es []ast.Expr) {
	for i := range es {
		es[i] = rewrite(es[i])
	}
}

func rewrite(e ast.Expr) ast.Expr {
	switch e := e.(type) {
	case nil:
		return nil
	case *ast.StringConcatOpExpr:
		// a .. b .. c parses right-nested; flatten the right spine into one
		// call, as Lua's own CONCAT takes the whole run at once.
		var args []ast.Expr
		var cur ast.Expr = e
		for {
			c, ok := cur.(*ast.StringConcatOpExpr)
			if !ok {
				args = append(args, rewrite(cur))
				break
			}
			args = append(args, rewrite(c.Lhs))
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
		e.Object = rewrite(e.Object)
		e.Key = rewrite(e.Key)
	case *ast.TableExpr:
		for _, f := range e.Fields {
			f.Key = rewrite(f.Key)
			f.Value = rewrite(f.Value)
		}
	case *ast.FuncCallExpr:
		e.Func = rewrite(e.Func)
		e.Receiver = rewrite(e.Receiver)
		rewriteExprs(e.Args)
	case *ast.LogicalOpExpr:
		e.Lhs = rewrite(e.Lhs)
		e.Rhs = rewrite(e.Rhs)
	case *ast.RelationalOpExpr:
		e.Lhs = rewrite(e.Lhs)
		e.Rhs = rewrite(e.Rhs)
	case *ast.ArithmeticOpExpr:
		e.Lhs = rewrite(e.Lhs)
		e.Rhs = rewrite(e.Rhs)
	case *ast.UnaryMinusOpExpr:
		e.Expr = rewrite(e.Expr)
	case *ast.UnaryNotOpExpr:
		e.Expr = rewrite(e.Expr)
	case *ast.UnaryLenOpExpr:
		e.Expr = rewrite(e.Expr)
	case *ast.FunctionExpr:
		rewriteStmts(e.Stmts)
	}
	return e
}
