package luar

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"

	lua "github.com/yuin/gopher-lua"
	gluar "layeh.com/gopher-luar"
)

// sig is what a call needs about a Go func type.
type sig struct {
	in       []reflect.Type // what the script passes: no receiver, no ctx
	ctx      bool           // first parameter is a context.Context
	variadic bool
	errLast  bool // last result is an error
}

func newSig(ft reflect.Type, skip int) *sig {
	s := &sig{variadic: ft.IsVariadic()}
	for i := skip; i < ft.NumIn(); i++ {
		t := ft.In(i)
		if i == skip && t == ctxType {
			s.ctx = true
			continue
		}
		s.in = append(s.in, t)
	}
	s.errLast = ft.NumOut() > 0 && ft.Out(ft.NumOut()-1) == errType
	return s
}

// method returns the Lua function for method name of recv's type, made once
// per LState and type. It takes the receiver from its first argument, and
// only accepts one of our views of exactly that type: gopher-luar would
// also convert a table into a receiver, letting a script call a method on
// a struct it forged (fields chosen by the script).
func (st *state) method(L *lua.LState, recv reflect.Value, name string) *lua.LFunction {
	t := recv.Type()
	i, ok := st.info(L, t).methods[name]
	if !ok {
		return nil
	}
	key := methodKey{t, i}
	if fn := st.methods[key]; fn != nil {
		return fn
	}
	m := t.Method(i)
	s := newSig(m.Type, 1)
	fn := L.NewFunction(func(L *lua.LState) int {
		v := st.selfView(L, L.Get(1))
		if v == nil || receiver(v.rv).Type() != t {
			L.RaiseError("%s: call it as value:%s(...) on a %s", m.Name, m.Name, t)
		}
		return st.call(L, m.Name, receiver(v.rv).Method(i), s, 2, v.ex)
	})
	st.methods[key] = fn
	return fn
}

// funcValue wraps a Go func value (from Expose, a field or a result).
func (st *state) funcValue(L *lua.LState, rv reflect.Value, ex *exposed) *lua.LFunction {
	s := st.sigs[rv.Type()]
	if s == nil {
		s = newSig(rv.Type(), 0)
		st.sigs[rv.Type()] = s
	}
	name := "function"
	if f := runtime.FuncForPC(rv.Pointer()); f != nil {
		name = f.Name()[strings.LastIndexByte(f.Name(), '.')+1:]
	}
	return L.NewFunction(func(L *lua.LState) int { return st.call(L, name, rv, s, 1, ex) })
}

// call converts the script's arguments from stack index first on, calls
// fn with the run's context first if it wants one, and pushes the results.
func (st *state) call(L *lua.LState, name string, fn reflect.Value, s *sig, first int, ex *exposed) int {
	n := max(L.GetTop()-first+1, 0)
	fixed := len(s.in)
	if s.variadic {
		fixed--
	}
	if n < fixed || !s.variadic && n > fixed {
		L.RaiseError("%s: %d arguments expected, got %d", name, fixed, n)
	}
	args := make([]reflect.Value, 0, n+1)
	if s.ctx {
		ctx, ok := ex.ctxValue()
		if !ok {
			L.RaiseError("%s: no run is current", name)
		}
		args = append(args, ctx)
	}
	cbs := &callbacks{ex: ex, name: name}
	if ex.opts.blocking {
		cbs = nil // no Lua while the run has lent its CPU share
	}
	for i := range n {
		hint := s.in[min(i, len(s.in)-1)]
		if s.variadic && i >= fixed {
			hint = s.in[fixed].Elem()
		}
		a, err := st.toGo(L, L.Get(first+i), hint, cbs)
		if err != nil {
			L.RaiseError("bad argument #%d to %s (%s)", i+1, name, err)
		}
		args = append(args, a)
	}
	var live *liveness
	if cbs != nil {
		live = cbs.live
	}
	out, errMsg := st.invoke(L, name, fn, args, s, ex, live)
	if errMsg != nil {
		for range len(out) - 1 {
			L.Push(lua.LNil)
		}
		L.Push(*errMsg)
		return len(out)
	}
	for _, o := range out {
		st.push(L, o, ex)
	}
	return len(out)
}

// invoke makes the Go call under guard, so a panic (in fn or in the
// error's Error method) becomes a Lua error.
func (st *state) invoke(L *lua.LState, name string, fn reflect.Value, args []reflect.Value, s *sig, ex *exposed, live *liveness) (out []reflect.Value, errMsg *lua.LString) {
	defer guard(L, name, ex)
	if live != nil {
		defer func() { live.on = false }()
	}
	if ex.opts.blocking {
		defer ex.run.Wait()()
	}
	out = fn.Call(args)
	if s.errLast {
		if e := out[len(out)-1]; !e.IsNil() {
			m := lua.LString(e.Interface().(error).Error())
			errMsg = &m
		} else {
			out[len(out)-1] = reflect.Value{} // pushes nil
		}
	}
	return out, errMsg
}

// Limits on a table passed to Go, checked before gopher-luar converts it:
// its conversion recurses once per nesting level, and a Go stack overflow
// is fatal to the whole process, not a recoverable panic.
const (
	maxTableDepth = 32
	maxTableItems = 100_000
)

// toGo converts a script's value for a Go parameter (or map key, element,
// field) of type hint. Scalars and our views are converted here (the
// common, cheap case, with gopher-luar's rules); tables go through
// gopher-luar after checks. cbs == nil means Lua functions are not accepted
// (they would be stored in Go memory); otherwise a function becomes a Go
// func (see callback) that only runs while the Go call cbs stands for runs.
func (st *state) toGo(L *lua.LState, lv lua.LValue, hint reflect.Type, cbs *callbacks) (reflect.Value, error) {
	if hint.Implements(lvType) {
		if rv := reflect.ValueOf(lv); rv.Type().AssignableTo(hint) {
			return rv, nil
		}
		return reflect.Value{}, fmt.Errorf("%s expected, got %s", hint, lv.Type())
	}
	var rv reflect.Value
	switch x := lv.(type) {
	case lua.LString:
		rv = reflect.ValueOf(string(x))
	case lua.LNumber:
		rv = reflect.ValueOf(float64(x))
	case lua.LBool:
		rv = reflect.ValueOf(bool(x))
	case *lua.LNilType:
		switch hint.Kind() {
		case reflect.Func, reflect.Interface, reflect.Map, reflect.Pointer, reflect.Slice:
			return reflect.Zero(hint), nil
		}
		return reflect.Value{}, fmt.Errorf("%s expected, got nil", hint)
	case *lua.LUserData:
		// Only our views: another module's userdata holds that module's
		// internals, which Go code could hand back to the script as a view.
		v := st.selfView(L, x)
		if v == nil {
			return reflect.Value{}, fmt.Errorf("%s expected, got %s", hint, userdataName(x))
		}
		// Assignable only: Convert could turn a slice into an array
		// pointer, which panics when the slice is short.
		if v.rv.Type().AssignableTo(hint) {
			return goValue(v), nil
		}
		return reflect.Value{}, fmt.Errorf("%s expected, got %s", hint, v.rv.Type())
	case *lua.LTable:
		n := 0
		if err := checkTable(x, 1, &n); err != nil {
			return reflect.Value{}, err
		}
		return st.viaGopherLuar(L, lv, hint)
	case *lua.LFunction:
		if cbs == nil {
			return reflect.Value{}, errors.New("a Lua function cannot be stored in Go")
		}
		if hint.Kind() != reflect.Func {
			return reflect.Value{}, fmt.Errorf("%s expected, got function", hint)
		}
		if cbs.live == nil {
			cbs.live = &liveness{on: true, goroutine: goroutineID()}
		}
		return st.callback(L, x, hint, cbs), nil
	default: // channels, threads
		return reflect.Value{}, fmt.Errorf("%s expected, got %s", hint, lv.Type())
	}
	if rv.Type().ConvertibleTo(hint) {
		return rv.Convert(hint), nil
	}
	return reflect.Value{}, fmt.Errorf("%s expected, got %s", hint, lv.Type())
}

// toKept converts a script's value that Go keeps (a field, a map entry or
// element a Writable view sets, a script function's result): as toGo
// without functions, and never a Lua table, function or userdata as it is,
// even for a lua.LValue destination or inside a table converted for a type
// that holds one: those belong to one Lua state and one run.
func (st *state) toKept(L *lua.LState, lv lua.LValue, hint reflect.Type) (reflect.Value, error) {
	switch lv.(type) {
	case *lua.LTable, *lua.LFunction, *lua.LUserData, *lua.LState, lua.LChannel:
		if hint.Implements(lvType) {
			return reflect.Value{}, fmt.Errorf("a Lua %s cannot be stored in Go", lv.Type())
		}
		if _, ok := lv.(*lua.LTable); ok && holdsLValue(hint, map[reflect.Type]bool{}) {
			return reflect.Value{}, fmt.Errorf("a Lua table cannot be stored in Go as %s (it holds lua.LValue)", hint)
		}
	}
	return st.toGo(L, lv, hint, nil)
}

// holdsLValue reports whether a value of type t can hold a lua.LValue
// (gopher-luar's table conversion stores Lua values as they are there).
func holdsLValue(t reflect.Type, seen map[reflect.Type]bool) bool {
	if t.Implements(lvType) {
		return true
	}
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return holdsLValue(t.Elem(), seen)
	case reflect.Map:
		return holdsLValue(t.Key(), seen) || holdsLValue(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if holdsLValue(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}

// callbacks is what the Lua functions passed to one Go call share: the
// module they were passed to and whether that call still runs.
type callbacks struct {
	ex   *exposed
	name string
	live *liveness // made for the call's first Lua function
}

// liveness: on while the Go call runs, on the goroutine running the VM.
type liveness struct {
	on        bool
	goroutine uint64
}

// callback wraps the script's function fn as a Go func of type ft. It runs
// fn on L itself, the state (or coroutine) whose script passed it, with the
// run's context, so the run's deadline and the engine's per-instruction
// checks (memory, CPU share) go on inside it; gopher-luar's wrapper would
// run it on a new thread that has none of them. Go's arguments reach fn as
// read-only views (the module's lock included); fn's results are converted
// as a Writable view's writes are (toKept: table limits, no Lua functions,
// tables or userdata kept by Go). Called after the Go call it was passed
// to returned, or from another goroutine, it panics with a string and runs
// nothing. A Lua error in fn is raised on as the Lua error it is, through
// the Go code that called it.
func (st *state) callback(L *lua.LState, fn *lua.LFunction, ft reflect.Type, cbs *callbacks) reflect.Value {
	ex, name, live := cbs.ex.readOnly(), cbs.name, cbs.live
	return reflect.MakeFunc(ft, func(in []reflect.Value) []reflect.Value {
		if !live.on {
			panic("luar: a script's function was called after the Go call it was passed to returned")
		}
		if goroutineID() != live.goroutine {
			panic("luar: a script's function was called from another goroutine than the script's")
		}
		args := make([]lua.LValue, 0, len(in))
		add := func(rv reflect.Value) {
			lv, err := st.toLua(L, rv, ex)
			if err != nil {
				L.RaiseError("%s: argument to the script's function: %s", name, err)
			}
			args = append(args, lv)
		}
		for i, a := range in {
			if ft.IsVariadic() && i == len(in)-1 {
				for j := range a.Len() {
					add(a.Index(j))
				}
				break
			}
			add(a)
		}
		top := L.GetTop()
		nout := ft.NumOut()
		if err := L.CallByParam(lua.P{Fn: fn, NRet: nout, Protect: true}, args...); err != nil {
			panic(err) // a *lua.ApiError, which guard raises on unchanged
		}
		out := make([]reflect.Value, nout)
		for i := range out {
			v, err := st.result(L, L.Get(top+1+i), ft.Out(i))
			if err != nil {
				L.SetTop(top)
				L.RaiseError("%s: bad result #%d from the script's function (%s)", name, i+1, err)
			}
			out[i] = v
		}
		L.SetTop(top)
		return out
	})
}

// result converts a script function's result for Go: nil is the zero
// value, a string is an error for an error result.
func (st *state) result(L *lua.LState, lv lua.LValue, t reflect.Type) (reflect.Value, error) {
	if lv == lua.LNil {
		if t.Implements(lvType) && reflect.TypeOf(lv).AssignableTo(t) {
			return reflect.ValueOf(lv), nil // lua.LNil for a lua.LValue
		}
		return reflect.Zero(t), nil
	}
	if t == errType {
		if s, ok := lv.(lua.LString); ok {
			return reflect.ValueOf(errors.New(string(s))), nil
		}
		return reflect.Value{}, fmt.Errorf("error message (string) expected, got %s", lv.Type())
	}
	return st.toKept(L, lv, t)
}

// goroutineID is the running goroutine's id, read from its stack header
// ("goroutine 42 [running]:"): Go offers no other way to tell goroutines
// apart, and a script's function must only run on the VM's own.
func goroutineID() uint64 {
	var buf [40]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = b[min(len(b), len("goroutine ")):]
	var id uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}

func userdataName(ud *lua.LUserData) string {
	if _, ok := ud.Value.(*handle); ok {
		return "nil" // a PerTenant handle without a value
	}
	return "a userdata that is not a Go value"
}

// checkTable refuses tables nested too deep or too big, and tables holding
// functions or userdata (gopher-luar would store a Lua function in Go
// memory for good, and would hand Go our view's internals).
func checkTable(t *lua.LTable, depth int, n *int) error {
	if depth > maxTableDepth {
		return fmt.Errorf("table nested deeper than %d", maxTableDepth)
	}
	for k, v := t.Next(lua.LNil); k != lua.LNil; k, v = t.Next(k) {
		if *n++; *n > maxTableItems {
			return fmt.Errorf("table with more than %d entries", maxTableItems)
		}
		for _, x := range [2]lua.LValue{k, v} {
			switch y := x.(type) {
			case *lua.LTable:
				if err := checkTable(y, depth+1, n); err != nil {
					return err
				}
			case *lua.LFunction, *lua.LUserData, *lua.LState, lua.LChannel:
				return fmt.Errorf("a table passed to Go cannot hold a %s", y.Type())
			}
		}
	}
	return nil
}

// viaGopherLuar converts a table with gopher-luar's rules. Its
// converter (lValueToReflect) is unexported, so we call it the only way
// gopher-luar offers: through a Go function it wraps, here an identity
// func(T) lua.LValue made once per type (an LValue result comes back
// unconverted, carrying the reflect.Value).
func (st *state) viaGopherLuar(L *lua.LState, lv lua.LValue, hint reflect.Type) (reflect.Value, error) {
	conv := st.conv[hint]
	if conv == nil {
		ft := reflect.FuncOf([]reflect.Type{hint}, []reflect.Type{lvType}, false)
		id := reflect.MakeFunc(ft, func(a []reflect.Value) []reflect.Value {
			return []reflect.Value{reflect.ValueOf(lua.LValue(&lua.LUserData{Value: a[0]}))}
		})
		conv = gluar.New(L, id.Interface()).(*lua.LFunction)
		st.conv[hint] = conv
	}
	L.Push(conv)
	L.Push(lv)
	if err := L.PCall(1, 1, nil); err != nil {
		msg := err.Error()
		if i := strings.Index(msg, " ("); i >= 0 {
			msg = strings.TrimSuffix(strings.SplitN(msg[i+2:], "\n", 2)[0], ")")
		}
		return reflect.Value{}, errors.New(msg)
	}
	ud := L.Get(-1).(*lua.LUserData)
	L.Pop(1)
	return ud.Value.(reflect.Value), nil
}
