package luaapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/dialua/dialua/runtime/netguard"
	"github.com/dialua/dialua/runtime/sandbox"
)

// Defaults for a tenant whose configuration does not say.
const (
	defaultHTTPTimeout = 2 * time.Second
	defaultHTTPMaxBody = 1 << 20
)

// HTTP is the module `http`, calling out through client:
//
//	http.get(url [, opts])          -> resp | nil, err
//	http.post(url, body [, opts])   -> resp | nil, err   (a table body is sent as JSON)
//	http.request{method = "PUT", url = ..., headers = {...}, body = "..." | json = value, timeout = 1.5}
//
// resp is {status = 200, headers = {["content-type"] = "..."}, body = "...",
// json = <decoded body when it is JSON>}. Only hosts on the tenant's
// allowlist can be reached; every call's timeout is capped by what is left of
// the script's deadline.
func HTTP(client *netguard.Client, maxString int) Module { return HTTPObserved(client, maxString, nil) }

// HTTPObserver is told of every call of the http module that reached the
// client, with its outcome: "ok" (a response under 400), "4xx", "5xx",
// "denied" (the allowlist or the address checks refused it), "timeout", or
// "error" (anything else: connection refused, a body over the limit).
type HTTPObserver interface {
	HTTPCall(tenant, outcome string)
}

// HTTPObserved is HTTP whose calls obs hears of (nil: nobody).
func HTTPObserved(client *netguard.Client, maxString int, obs HTTPObserver) Module {
	return Func("http", func(L *lua.LState, run Run) lua.LValue { return openHTTP(L, run, client, maxString, obs) })
}

// httpOutcome names a call's result for an HTTPObserver.
func httpOutcome(ctx context.Context, resp *netguard.Response, err error) string {
	switch {
	case err == nil && resp.Status >= 500:
		return "5xx"
	case err == nil && resp.Status >= 400:
		return "4xx"
	case err == nil:
		return "ok"
	case errors.Is(err, netguard.ErrNotAllowed):
		return "denied"
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil || strings.Contains(err.Error(), "timeout"):
		return "timeout"
	}
	return "error"
}

func openHTTP(L *lua.LState, run Run, client *netguard.Client, maxString int, obs HTTPObserver) lua.LValue {
	null := null(L)
	do := func(L *lua.LState, method, url string, opts *lua.LTable, body lua.LValue) int {
		if opts != nil {
			opts = sandbox.Contents(opts)
		}
		cfg := run.Tenant()
		req := &netguard.Request{Tenant: run.Request().Tenant, Method: method, URL: url, Header: http.Header{}}
		timeout := defaultHTTPTimeout
		req.Allow = cfg.HTTP.Allow
		req.RootCAs, req.CAKey = cfg.HTTP.CA.Pool(), cfg.HTTP.CA.Key()
		if cfg.HTTP.Timeout > 0 {
			timeout = time.Duration(cfg.HTTP.Timeout)
		}
		req.MaxBody = cfg.HTTP.MaxBody
		if req.MaxBody <= 0 {
			req.MaxBody = defaultHTTPMaxBody
		}
		if opts != nil {
			if h, ok := opts.RawGetString("headers").(*lua.LTable); ok {
				h = sandbox.Contents(h)
				for k, v := h.Next(lua.LNil); k != lua.LNil; k, v = h.Next(k) {
					req.Header.Set(lua.LVAsString(k), lua.LVAsString(v))
				}
			}
			if t, ok := opts.RawGetString("timeout").(lua.LNumber); ok && t > 0 {
				timeout = min(timeout, time.Duration(float64(t)*float64(time.Second)))
			}
			if j := opts.RawGetString("json"); j != lua.LNil {
				body = j
			}
		}
		switch b := body.(type) {
		case *lua.LNilType:
		case lua.LString:
			req.Body = []byte(b)
			if req.Header.Get("Content-Type") == "" {
				// What PHP's curl sends for a string body, the usual
				// port: "a=1&b=2".
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			}
		case *lua.LTable:
			enc, err := encodeJSON(run.Context(), b, null, maxString)
			if err != nil {
				L.ArgError(2, err.Error())
			}
			req.Body = enc
			if req.Header.Get("Content-Type") == "" {
				req.Header.Set("Content-Type", "application/json")
			}
		default:
			L.ArgError(2, "body must be a string or a table")
		}
		ctx, cancel := context.WithTimeout(run.Context(), timeout)
		defer cancel()
		resume := run.Wait()
		resp, err := client.Do(ctx, req)
		resume()
		if obs != nil {
			obs.HTTPCall(req.Tenant, httpOutcome(ctx, resp, err))
		}
		if err != nil {
			L.Push(lua.LNil)
			L.Push(lua.LString(err.Error()))
			return 2
		}
		t := L.CreateTable(0, 4)
		t.RawSetString("status", lua.LNumber(resp.Status))
		h := L.CreateTable(0, len(resp.Header))
		for k, vs := range resp.Header {
			h.RawSetString(strings.ToLower(k), lua.LString(strings.Join(vs, ", ")))
		}
		t.RawSetString("headers", h)
		t.RawSetString("body", lua.LString(resp.Body))
		if ct := resp.Header.Get("Content-Type"); strings.Contains(ct, "json") {
			if v, err := decodeJSON(L, string(resp.Body), null); err == nil {
				t.RawSetString("json", v)
			}
		}
		L.Push(t)
		return 1
	}
	optTable := func(L *lua.LState, n int) *lua.LTable {
		switch v := L.Get(n).(type) {
		case *lua.LTable:
			return v
		case *lua.LNilType:
			return nil
		}
		L.ArgError(n, "options must be a table")
		return nil
	}
	t := L.NewTable()
	t.RawSetString("get", L.NewFunction(func(L *lua.LState) int {
		return do(L, "GET", L.CheckString(1), optTable(L, 2), lua.LNil)
	}))
	t.RawSetString("post", L.NewFunction(func(L *lua.LState) int {
		return do(L, "POST", L.CheckString(1), optTable(L, 3), L.Get(2))
	}))
	t.RawSetString("request", L.NewFunction(func(L *lua.LState) int {
		o := L.CheckTable(1)
		method := strings.ToUpper(lua.LVAsString(o.RawGetString("method")))
		if method == "" {
			method = "GET"
		}
		url, ok := o.RawGetString("url").(lua.LString)
		if !ok {
			L.ArgError(1, "url is required")
		}
		return do(L, method, string(url), o, o.RawGetString("body"))
	}))
	return t
}
