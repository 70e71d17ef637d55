package sandbox

import (
	"bytes"
	"fmt"
	"math"
	"slices"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/ast"
	"github.com/yuin/gopher-lua/parse"
)

// concatFunc is the global the .. operator is rewritten to call; forNumFunc
// the one a numeric for's bounds go through (see forNumber).
const (
	concatFunc = internalPrefix + "_concat"
	// concatLocal is the local hoistConcat keeps concatFunc in.
	concatLocal = internalPrefix + "_concat_local"
	forNumFunc  = internalPrefix + "_fornum"
)

// MaxNesting is how deeply statements and expressions may nest in the
// syntax tree. gopher-lua's compiler recurses once per level, and a file of
// a million nested "not"s would overflow the Go stack and take the process
// down. The tree nests for every operator of a chain (a + b + c is two
// levels), so the limit is well above Lua's 200 levels of blocks and
// parentheses.
const MaxNesting = 1000

// Compiling is paid outside any run's deadline, and gopher-lua's compiler
// has searches that make it quadratic on some inputs (80,000 constants in one
// table took 36 s). The rewriter replays those searches on the syntax tree,
// before the compiler runs, and refuses a file whose estimated compile time
// passes MaxCompileCost:
//
//   - constants: a function's strings, numbers and global and field names are
//     found by a linear search of its constant list, for every use; a use
//     costs the constant's position in the list (the whole list for a new
//     one). Measured: about 7 ns a step.
//   - constant folding: every arithmetic or unary minus node that does not
//     fold walks its whole arithmetic subtree again (y+1+1+...+1 is
//     quadratic). Measured: about 25 ns a node.
//   - names: every identifier is looked up through the local names in scope
//     of its function and every enclosing one, then the upvalue list.
//     Measured: about 3 ns a name, 12 ns a function level.
//   - functions: each costs about 10 us to set up and finish, whatever its
//     size (a file of 70,000 empty functions would take most of a second).
//
// The estimates follow the compiler's own order (source order), so they
// track its time closely; where they cannot, they over-count.
const (
	// MaxCompileCost is the estimated compile time, in nanoseconds, past
	// which a file is refused. With parsing (under 0.5 s for the worst 1 MiB
	// file), every accepted file compiles in well under a second.
	MaxCompileCost = 300_000_000
	// MaxConstants is how many distinct constants one function may have:
	// 8,000 alone cost about 0.2 s, and a clear message beats the
	// general one.
	MaxConstants = 8000
	// MaxUpvalues is how many outer locals one function may use: gopher-lua
	// keeps the count in a byte, and past 255 the closure is built wrong.
	MaxUpvalues = 255
)

// maxCompileCost is MaxCompileCost, for tests to measure past it.
var maxCompileCost int64 = MaxCompileCost

// Estimated cost, in nanoseconds, of one step of each search (see above).
const (
	costConstStep = 8
	costFoldNode  = 25
	costName      = 3
	costLevel     = 12
	costFunction  = 10_000
)

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
// instruction can build an unbounded string (with a note of its operands'
// names for its error, concat_names.go). Where gopher-lua departs from Lua
// 5.1, the tree is rewritten to what 5.1 does: numeric for bounds that may
// be strings are converted (fornum.go), multiple assignments to locals
// evaluate before they assign (assign.go). The rest compiles unchanged,
// except for the table constructors fixSetList repairs.
func Compile(src []byte, name string) (*lua.FunctionProto, error) {
	chunk, err := parse.Parse(bytes.NewReader(src), name)
	if err != nil {
		return nil, err
	}
	r := rewriter{scope: map[string][]int{}}
	root := r.function(nil, false, &chunk, 0)
	if r.err != nil {
		return nil, r.err
	}
	hoistConcat(root)
	proto, err := lua.Compile(chunk, name)
	if err != nil {
		return nil, err
	}
	if err := fixSetList(proto); err != nil {
		return nil, err
	}
	dropImplicitArg(proto)
	attachSites(proto, root)
	// Keep this call: see tailcall.go (the tail-call traceback bomb).
	noTailCalls(proto)
	shrink(proto)
	return proto, nil
}

// shrink copies a compiled function's slices into ones of their exact
// length. gopher-lua's compiler writes code and line numbers into buffers
// of 1,024 entries (12 KiB per function) and hands out slices of them, so a
// 12-line script with one nested function kept 25 KiB alive in the cache,
// of which it used a few hundred bytes.
func shrink(p *lua.FunctionProto) {
	p.Code = slices.Clone(p.Code)
	p.DbgSourcePositions = slices.Clone(p.DbgSourcePositions)
	p.Constants = slices.Clone(p.Constants)
	p.FunctionPrototypes = slices.Clone(p.FunctionPrototypes)
	p.DbgLocals = slices.Clone(p.DbgLocals)
	p.DbgCalls = slices.Clone(p.DbgCalls)
	p.DbgUpvalues = slices.Clone(p.DbgUpvalues)
	trimStringConstants(p)
	for _, child := range p.FunctionPrototypes {
		shrink(child)
	}
}

// hoistConcat makes the .. helper a local of each function that calls it
// more than once per call (twice in its code, or in a loop): a global costs
// three table look-ups at every use (the run's globals, their metatable's
// __index, the sandbox's globals), a local none, and in a loop of
// concatenations that was a third of the time. Functions that concatenate
// once keep the global, which costs the same once and no register.
//
// The local has a name of its own, so a function nested in one that holds it
// still finds the global, and never reaches the local as an upvalue (which
// would cost the closure an allocation and count against MaxUpvalues, which
// the rewriter has already checked). It takes one of the function's
// registers (gopher-lua allows 200).
func hoistConcat(fn *function) {
	if fn.hot {
		line := fn.sites[0].line
		global := &ast.IdentExpr{Value: concatFunc}
		global.SetLine(line)
		global.SetLastLine(line)
		decl := &ast.LocalAssignStmt{Names: []string{concatLocal}, Exprs: []ast.Expr{global}}
		decl.SetLine(line)
		decl.SetLastLine(line)
		*fn.body = slices.Insert(*fn.body, 0, ast.Stmt(decl))
		for _, id := range fn.calls {
			id.Value = concatLocal
		}
	}
	for _, child := range fn.children {
		hoistConcat(child)
	}
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

// rewriter walks the AST once: it rewrites .. into calls, numeric for
// bounds and multiple assignments (see Compile), pads generic-for explists,
// refuses the helpers' reserved names, stops at the first construct nested
// deeper than MaxNesting, and estimates the compiler's time (see
// MaxCompileCost).
type rewriter struct {
	depth int
	err   error
	line  int // of the statement being walked

	// declared lists the local names in scope, in order of declaration, the
	// compiler's hidden loop variables included; scope maps a name to its
	// declarations' positions in declared, innermost last. A name without
	// one is a global.
	declared []decl
	scope    map[string][]int

	fn    *function // the function being walked
	cost  int64     // estimated compile time so far, ns
	loops int       // loops around the statement being walked, in its function

	// Of the expression just walked: num and isNum, its value when it is a
	// numeric constant the compiler folds (a literal, -literal, arithmetic
	// on those); folds, the size of its arithmetic tree (1 for a leaf), which
	// the compiler walks again at every node of it that does not fold.
	num   float64
	isNum bool
	folds int64
}

type decl struct {
	name string
	fn   *function
}

// function is what the rewriter tracks of one function being compiled.
type function struct {
	outer  *function
	level  int // functions enclosing it
	line   int
	base   int // len(declared) when it started
	consts map[constKey]int
	upvals map[string]bool

	sites    []concatSite // its .. expressions, in order (concat_names.go)
	children []*function  // the functions defined in it, in order

	body  *[]ast.Stmt      // its statements, for hoistConcat
	calls []*ast.IdentExpr // the helper's names at its .. calls
	hot   bool             // it concatenates more than once per call
}

// constKey is a constant as the compiler compares them: strings by value,
// numbers by numeric value (1 and 1.0 are one constant; NaN, which equals
// nothing, a new one each time, as in a Go map).
type constKey struct {
	num bool
	n   float64
	s   string
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

// charge adds estimated compile time; past MaxCompileCost the file is
// refused at line, with why as the reason.
func (r *rewriter) charge(ns int64, line int, why string) {
	r.cost += ns
	if r.err == nil && r.cost > maxCompileCost {
		r.err = &CompileError{Line: line, Message: "this file would take too long to compile: " + why}
	}
}

const (
	whyConstants = "too many uses of constants in functions with many distinct constants " +
		"(strings, numbers, global and field names); use fewer per function, or split the file"
	whyFolds     = "arithmetic expressions nested too deeply; split them with local variables"
	whyFunctions = "too many functions; split the file"
	whyNames     = "too many names looked up through many locals or nested functions; " +
		"use fewer locals in scope, flatter functions, or split the file"
)

func (r *rewriter) stmts(stmts []ast.Stmt) {
	for i := range stmts {
		stmts[i] = r.stmt(stmts[i])
	}
}

// block walks statements in a scope of their own: the locals they declare
// are out of scope after it.
func (r *rewriter) block(stmts []ast.Stmt, names ...string) {
	mark := len(r.declared)
	r.declare(names...)
	r.stmts(stmts)
	r.close(mark)
}

func (r *rewriter) declare(names ...string) {
	for _, n := range names {
		r.reserved(n, r.line)
		r.scope[n] = append(r.scope[n], len(r.declared))
		r.declared = append(r.declared, decl{n, r.fn})
	}
}

func (r *rewriter) close(mark int) {
	for _, d := range r.declared[mark:] {
		if s := r.scope[d.name]; len(s) > 1 {
			r.scope[d.name] = s[:len(s)-1]
		} else {
			delete(r.scope, d.name)
		}
	}
	r.declared = r.declared[:mark]
}

// function walks a function body (the chunk's too) with its own constant
// list. self is set for a method, whose first parameter is implicit.
func (r *rewriter) function(par *ast.ParList, self bool, body *[]ast.Stmt, line int) *function {
	outer, loops := r.fn, r.loops
	fn := &function{outer: outer, line: line, base: len(r.declared),
		consts: map[constKey]int{}, upvals: map[string]bool{}, body: body}
	if outer != nil {
		fn.level = outer.level + 1
		outer.children = append(outer.children, fn)
	}
	r.charge(costFunction, line, whyFunctions)
	r.fn, r.loops = fn, 0
	var names []string
	if self {
		names = append(names, "self")
	}
	if par != nil {
		names = append(names, par.Names...)
	}
	r.block(*body, names...)
	r.fn, r.loops = outer, loops
	if outer == nil {
		return fn
	}
	// Closing the function, the compiler finds each of its upvalues among
	// the outer function's locals, or makes it an upvalue there too.
	outerNames := int64(fn.base - outer.base)
	for u := range fn.upvals {
		r.charge((outerNames+int64(len(outer.upvals)))*costName, line, whyNames)
		if i := r.scope[u]; len(i) == 0 || r.declared[i[len(i)-1]].fn != outer {
			r.upvalue(outer, u, line)
		}
	}
	return fn
}

// name accounts for the look-up of an identifier: through the locals in
// scope from the innermost outward and one step per function level, then
// the constant list for a global or the upvalue list for an outer local.
func (r *rewriter) name(id string, line int) {
	s := r.scope[id]
	if len(s) == 0 {
		r.charge(int64(len(r.declared))*costName+int64(r.fn.level+1)*costLevel, line, whyNames)
		r.constant(constKey{s: id}, line)
		return
	}
	d := r.declared[s[len(s)-1]]
	r.charge(int64(len(r.declared)-s[len(s)-1])*costName+int64(r.fn.level-d.fn.level+1)*costLevel, line, whyNames)
	if d.fn != r.fn {
		r.upvalue(r.fn, id, line)
	}
}

// upvalue accounts for using an outer local in fn.
func (r *rewriter) upvalue(fn *function, id string, line int) {
	r.charge(int64(len(fn.upvals))*costName, line, whyNames)
	if fn.upvals[id] || r.err != nil {
		return
	}
	fn.upvals[id] = true
	if len(fn.upvals) > MaxUpvalues {
		r.err = &CompileError{Line: line, Message: fmt.Sprintf(
			"the function starting at line %d uses more than %d locals of enclosing functions", fn.line, MaxUpvalues)}
	}
}

// constant accounts for one use of a constant at line: the steps of the
// compiler's search, and a new entry when it is not in the list yet.
func (r *rewriter) constant(k constKey, line int) {
	fn := r.fn
	i, ok := fn.consts[k]
	if !ok {
		i = len(fn.consts)
		fn.consts[k] = i
	}
	r.charge(int64(i+1)*costConstStep, line, whyConstants)
	if r.err == nil && len(fn.consts) > MaxConstants {
		where := fmt.Sprintf("the function starting at line %d", fn.line)
		if fn.line == 0 {
			where = "the file's main chunk (its code outside any function)"
		}
		r.err = &CompileError{Line: line, Message: fmt.Sprintf(
			"%s has more than %d distinct constants (strings, numbers, global and field names); "+
				"split its data across several functions or modules", where, MaxConstants)}
	}
}

// assigned accounts for the second look-up of a global's name when the
// compiler stores to it (e is an assignment target).
func (r *rewriter) assigned(e ast.Expr) {
	if id, ok := e.(*ast.IdentExpr); ok && len(r.scope[id.Value]) == 0 {
		r.constant(constKey{s: id.Value}, id.Line())
	}
}

// hidden is the compiler's internal locals of a for loop: they take scope
// (and look-up time) like named ones, with names no identifier can have.
var hidden = []string{"(for)", "(for)", "(for)"}

func (r *rewriter) stmt(s ast.Stmt) ast.Stmt {
	defer r.leave()
	if !r.enter(s.Line()) {
		return s
	}
	r.line = s.Line()
	switch s := s.(type) {
	case *ast.AssignStmt:
		if r.needsSplit(s) {
			return r.stmt(splitAssign(s))
		}
		r.exprs(s.Lhs)
		r.exprs(s.Rhs)
		for _, l := range s.Lhs {
			r.assigned(l)
		}
	case *ast.LocalAssignStmt:
		if len(s.Names) == 1 && len(s.Exprs) == 1 {
			if _, ok := s.Exprs[0].(*ast.FunctionExpr); ok {
				// local function f: f is in scope in its own body.
				r.declare(s.Names...)
				r.exprs(s.Exprs)
				break
			}
		}
		r.exprs(s.Exprs)
		r.declare(s.Names...)
	case *ast.FuncCallStmt:
		s.Expr = r.expr(s.Expr)
	case *ast.DoBlockStmt:
		r.block(s.Stmts)
	case *ast.WhileStmt:
		r.loops++
		s.Condition = r.expr(s.Condition)
		r.block(s.Stmts)
		r.loops--
	case *ast.RepeatStmt:
		// The condition sees the body's locals, and compiles after it.
		r.loops++
		mark := len(r.declared)
		r.stmts(s.Stmts)
		s.Condition = r.expr(s.Condition)
		r.close(mark)
		r.loops--
	case *ast.IfStmt:
		s.Condition = r.expr(s.Condition)
		r.block(s.Then)
		r.block(s.Else)
	case *ast.NumberForStmt:
		s.Init = r.forBound(s.Init, "initial value")
		s.Limit = r.forBound(s.Limit, "limit")
		if s.Step == nil {
			// The compiler loads a step of 1.
			r.constant(constKey{num: true, n: 1}, s.Line())
		}
		s.Step = r.forBound(s.Step, "step")
		r.loops++
		r.block(s.Stmts, append(hidden, s.Name)...)
		r.loops--
	case *ast.GenericForStmt:
		r.exprs(s.Exprs)
		s.Exprs = padForExprs(s.Exprs)
		r.loops++
		r.block(s.Stmts, append(hidden, s.Names...)...)
		r.loops--
	case *ast.FuncDefStmt:
		s.Name.Func = r.expr(s.Name.Func)
		s.Name.Receiver = r.expr(s.Name.Receiver)
		if s.Name.Func == nil {
			r.constant(constKey{s: s.Name.Method}, s.Line())
		}
		r.function(s.Func.ParList, s.Name.Func == nil, &s.Func.Stmts, s.Func.Line())
		r.assigned(s.Name.Func)
	case *ast.ReturnStmt:
		r.exprs(s.Exprs)
	}
	return s
}

func parseNumber(s string) float64 {
	if v, ok := stringNumber(s); ok {
		return v
	}
	return math.NaN()
}

// fold is the compiler's constant folding of arithmetic on two numbers.
func fold(op string, a, b float64) float64 {
	switch op {
	case "+":
		return a + b
	case "-":
		return a - b
	case "*":
		return a * b
	case "/":
		return a / b
	case "%":
		return a - math.Floor(a/b)*b
	case "^":
		return math.Pow(a, b)
	}
	return math.NaN()
}

func fixSetList(p *lua.FunctionProto) error {
	var blocks [256]int // per register: blocks stored since its NEWTABLE
	code := p.Code
	for pc := 0; pc < len(code); pc++ {
		inst := code[pc]
		a := int(inst>>18) & 0xff
		switch int(inst >> 26) {
		case lua.OP_NEWTABLE:
			blocks[a] = 0
		case lua.OP_SETLIST:
			b, c := int(inst&0x1ff), int(inst>>9)&0x1ff
			extra := c == 0 // the block number is in the next word
			nop := uint32(lua.OP_MOVE)<<26 | uint32(a)<<18 | uint32(a)
			if b == lua.FieldsPerFlush && blocks[a] > 0 && pc > 0 {
				prev := code[pc-1]
				if op := int(prev >> 26); (op == lua.OP_SETTABLE || op == lua.OP_SETTABLEKS) && int(prev>>18)&0xff == a {
					code[pc] = nop
					if extra {
						code[pc+1] = nop
						pc++
					}
					continue
				}
			}
			blocks[a]++
			switch {
			case extra:
				code[pc+1] = uint32(blocks[a])
				pc++
			case blocks[a] <= 0x1ff:
				code[pc] = inst&^(0x1ff<<9) | uint32(blocks[a])<<9
			default:
				line := p.LineDefined
				if pc < len(p.DbgSourcePositions) {
					line = p.DbgSourcePositions[pc]
				}
				return &CompileError{Line: line, Message: fmt.Sprintf(
					"table constructor with %d positional items before a final call or ...; the compiler cannot store that; "+
						"add the call's values separately", (blocks[a]-1)*lua.FieldsPerFlush)}
			}
		}
	}
	for _, child := range p.FunctionPrototypes {
		if err := fixSetList(child); err != nil {
			return err
		}
	}
	return nil
}

// oneValue marks a call or ... as giving one value, as if parenthesised. A
// keyed field's value is one value anyway, but the compiler, seeing a call
// as the constructor's last field, stores the positional items pending
// with a count of "up to the stack top" ({1, 2, 3, x = f()} had t[4] = f()).
func oneValue(e ast.Expr) {
	switch e := e.(type) {
	case *ast.FuncCallExpr:
		e.AdjustRet = true
	case *ast.Comma3Expr:
		e.AdjustRet = true
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
	num, isNum, folds := 0.0, false, int64(1)
	switch e := e.(type) {
	case *ast.StringExpr:
		r.constant(constKey{s: e.Value}, e.Line())
	case *ast.NumberExpr:
		num, isNum = parseNumber(e.Value), true
		r.constant(constKey{num: true, n: num}, e.Line())
	case *ast.IdentExpr:
		r.reserved(e.Value, e.Line())
		r.name(e.Value, e.Line())
	case *ast.StringConcatOpExpr:
		// a .. b .. c parses right-nested; flatten the right spine into one
		// call, as Lua's own CONCAT takes the whole run at once.
		var args []ast.Expr
		var names []string
		var cur ast.Expr = e
		for {
			c, ok := cur.(*ast.StringConcatOpExpr)
			if !ok {
				names = append(names, r.operandName(cur))
				args = append(args, r.expr(cur))
				break
			}
			names = append(names, r.operandName(c.Lhs))
			args = append(args, r.expr(c.Lhs))
			cur = c.Rhs
		}
		r.fn.sites = append(r.fn.sites, concatSite{line: e.Line(), names: names})
		r.fn.hot = r.fn.hot || r.loops > 0 || len(r.fn.sites) > 1
		// An operand is one value, as it is to Lua's own operator: a call
		// or ... last in the call's arguments would give all its values.
		oneValue(args[len(args)-1])
		r.name(concatFunc, e.Line())
		fn := &ast.IdentExpr{Value: concatFunc}
		fn.SetLine(e.Line())
		fn.SetLastLine(e.LastLine())
		r.fn.calls = append(r.fn.calls, fn)
		call := &ast.FuncCallExpr{Func: fn, Args: args}
		call.SetLine(e.Line())
		call.SetLastLine(e.LastLine())
		r.isNum, r.folds = false, 1
		return call
	case *ast.AttrGetExpr:
		e.Object = r.expr(e.Object)
		e.Key = r.expr(e.Key)
	case *ast.TableExpr:
		for _, f := range e.Fields {
			f.Key = r.expr(f.Key)
			f.Value = r.expr(f.Value)
			if f.Key != nil {
				oneValue(f.Value)
			}
		}
	case *ast.FuncCallExpr:
		e.Func = r.expr(e.Func)
		e.Receiver = r.expr(e.Receiver)
		if e.Method != "" {
			r.constant(constKey{s: e.Method}, e.Line())
		}
		r.exprs(e.Args)
	case *ast.LogicalOpExpr:
		e.Lhs = r.expr(e.Lhs)
		e.Rhs = r.expr(e.Rhs)
	case *ast.RelationalOpExpr:
		e.Lhs = r.expr(e.Lhs)
		e.Rhs = r.expr(e.Rhs)
	case *ast.ArithmeticOpExpr:
		e.Lhs = r.expr(e.Lhs)
		a, aNum, aFolds := r.num, r.isNum, r.folds
		e.Rhs = r.expr(e.Rhs)
		folds = 1 + aFolds + r.folds
		if aNum && r.isNum {
			// Folded into one more constant (counted as well as its
			// operands, which over-counts a little).
			num, isNum = fold(e.Operator, a, r.num), true
			r.constant(constKey{num: true, n: num}, e.Line())
			break
		}
		// This node does not fold: the compiler walks its whole tree, then
		// compiles each operand, and an operand that folds is walked once
		// more (one that does not is charged on its own).
		cost := folds
		if aNum && aFolds > 1 {
			cost += aFolds
		}
		if r.isNum && r.folds > 1 {
			cost += r.folds
		}
		r.charge(cost*costFoldNode, e.Line(), whyFolds)
	case *ast.UnaryMinusOpExpr:
		e.Expr = r.expr(e.Expr)
		folds = 1 + r.folds
		if r.isNum {
			num, isNum = -r.num, true
			r.constant(constKey{num: true, n: num}, e.Line())
			break
		}
		r.charge(folds*costFoldNode, e.Line(), whyFolds)
	case *ast.UnaryNotOpExpr:
		e.Expr = r.expr(e.Expr)
	case *ast.UnaryLenOpExpr:
		e.Expr = r.expr(e.Expr)
	case *ast.FunctionExpr:
		r.function(e.ParList, false, &e.Stmts, e.Line())
	}
	r.num, r.isNum, r.folds = num, isNum, folds
	return e
}

// IsInternal reports whether name is one of the functions Compile's rewrites
// call (the .. operator, for bounds): tracebacks leave them out, as they are
// dialua's, not the script's.
func IsInternal(name string) bool { return strings.HasPrefix(name, internalPrefix) }

// reserved refuses a script's own use of the names of the rewrites' helpers,
// which would change what .. or a for loop does, or show dialua's insides.
func (r *rewriter) reserved(name string, line int) {
	if r.err == nil && IsInternal(name) {
		r.err = &CompileError{Line: line, Message: "names starting with " + internalPrefix + " are reserved"}
	}
}
