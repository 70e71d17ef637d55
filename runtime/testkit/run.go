package testkit

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/protocol"
)

// Request builds the request a GET of path would be, with params as
// name, value pairs in arrival order (a later value of a name wins, as a
// form body's does over the query's). The tenant is the path's first
// segment, the script the rest without a trailing slash, as the server
// splits them; nothing is checked (the engine answers engine.ErrBadPath).
// Set Method to "POST" for a POST.
func Request(path string, params ...string) *protocol.Request {
	if len(params)%2 != 0 {
		panic(fmt.Sprintf("testkit.Request(%q): params are name, value pairs; got %d strings", path, len(params)))
	}
	req := &protocol.Request{Method: "GET", Path: path}
	p := path
	if len(p) > 0 && p[0] == '/' {
		p = p[1:]
	}
	req.Tenant = p
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			req.Tenant, req.Script = p[:i], p[i+1:]
			break
		}
	}
	if n := len(req.Script); n > 0 && req.Script[n-1] == '/' {
		req.Script = req.Script[:n-1]
	}
	for i := 0; i < len(params); i += 2 {
		req.Params = append(req.Params, protocol.Param{Name: params[i], Value: params[i+1]})
	}
	return req
}

// Do runs req on the engine and decodes the response strictly. A run that
// fails returns its error (a *engine.ScriptError, engine.ErrNotFound, ...)
// and no verbs; a run that succeeds with a response the decoder refuses
// fails the test, since the engine promises a valid one.
func (e *Engine) Do(t testing.TB, req *protocol.Request) ([]protocol.Verb, error) {
	t.Helper()
	out, err := e.Engine.Run(context.Background(), req, nil)
	if err != nil {
		return nil, err
	}
	resp, err := protocol.Decode(out)
	if err != nil {
		t.Fatalf("%s: the engine's response does not decode: %v\n%s", req.Path, err, out)
	}
	return resp.Verbs, nil
}

// Call runs the script at path with params (see Request) as a GET.
func (e *Engine) Call(t testing.TB, path string, params ...string) ([]protocol.Verb, error) {
	t.Helper()
	return e.Do(t, Request(path, params...))
}

// Verbs is Call for a run that must succeed: any error fails the test.
func (e *Engine) Verbs(t testing.TB, path string, params ...string) []protocol.Verb {
	t.Helper()
	vs, err := e.Call(t, path, params...)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return vs
}

// Vars is Verbs' SetVar verbs as a map (see the function Vars).
func (e *Engine) Vars(t testing.TB, path string, params ...string) map[string]string {
	t.Helper()
	return Vars(e.Verbs(t, path, params...))
}

// Fail is Call for a run that must fail in its script (compile, runtime,
// timeout or memory): it returns the script error, and fails the test if
// the run succeeded or failed otherwise.
func (e *Engine) Fail(t testing.TB, path string, params ...string) *engine.ScriptError {
	t.Helper()
	vs, err := e.Call(t, path, params...)
	var se *engine.ScriptError
	if !errors.As(err, &se) {
		t.Fatalf("%s: got verbs %v and error %v, want a script error", path, vs, err)
	}
	return se
}

// Vars collects the SetVar verbs of a response as a map, the last value of
// a name winning.
func Vars(vs []protocol.Verb) map[string]string {
	m := map[string]string{}
	for _, v := range vs {
		if v.Kind == protocol.SetVar {
			m[v.Name] = v.Text
		}
	}
	return m
}

// SameVerbs fails the test unless got and want are the same verbs in the
// same order.
func SameVerbs(t testing.TB, got, want []protocol.Verb) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d verbs, want %d\n got: %v\nwant: %v", len(got), len(want), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("verb %d:\n got: %s\nwant: %s", i, got[i], want[i])
		}
	}
}
