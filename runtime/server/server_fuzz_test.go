package server

import (
	"mime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/testkit"
)

// fuzzScripts is the scripts root FuzzHandle serves. echo.lua copies every
// parameter whose name is a variable name into a SetVar and ends with a
// marker verb, so the fuzz function can tell its answers apart and check
// the whole parameter path: fasthttp's args, exchange.fill's copy,
// protocol.Request and the lazy request.params table.
var fuzzScripts = map[string]string{
	"t/echo.lua": `for name, value in pairs(request.params) do
  if #name <= 64 and name:match("^[%a_][%w_]*$") then response:set_var(name, value) end
end
response:play_tts{"echo", voice = "echo"}
`,
	"t/index.lua":    `response:play_tts{request.method .. " " .. request.path, voice = "v"}`,
	"t/err.lua":      `error("boom " .. (request.params.x or ""))`,
	"t/sub/deep.lua": `response:set_var("event", request.event):hangup()`,
	"t/lib/mod.lua":  `return {}`,
}

// FuzzHandle sends fuzzed requests (method, path, query, Content-Type,
// body) through (*Server).Handle in-process, with a real engine over
// fuzzScripts. Every answer must have a status from the README's table and
// a body the strict decoder accepts (an empty <Response> for errors); no
// panic may reach Handle's recover (it would answer 500 and log "panic
// serving request"); and a GET, or a form POST, of /t/echo must answer 200
// with exactly the parameters fasthttp parsed, the last value of a name
// winning, as SetVars.
//
//	go test -run XXX -fuzz FuzzHandle -fuzztime 60s -parallel 1 ./runtime/server/
func FuzzHandle(f *testing.F) {
	f.Add(uint8(0), "/t/echo", "subscription_code=934924&CallID=5205dc5c", "", []byte(nil))
	f.Add(uint8(1), "/t/echo", "a=query&b=1", "application/x-www-form-urlencoded", []byte("a=body&c=%E2%82%AC&d"))
	f.Add(uint8(1), "/t/sub/deep", "", "", []byte("EventType=hangup"))
	f.Add(uint8(1), "/t/echo", "", "application/json", []byte(`{"a":1}`))
	f.Add(uint8(1), "/t/echo", "a=q", "multipart/form-data; boundary=x", []byte("--x\r\nContent-Disposition: form-data; name=a\r\n\r\nb\r\n--x--\r\n"))
	f.Add(uint8(2), "/t/echo", "", "", []byte(nil))
	f.Add(uint8(0), "/t/../t/echo", "", "", []byte(nil))
	f.Add(uint8(0), "/t/lib/mod", "", "", []byte(nil))
	f.Add(uint8(0), "/t/err", "x=1", "", []byte(nil))
	f.Add(uint8(0), "/t/", "", "", []byte(nil))
	f.Add(uint8(0), "/healthz", "", "", []byte(nil))

	eng := testkit.NewEngine(f, testkit.Scripts(f, fuzzScripts), engine.Options{Timeout: 2 * time.Second, VMs: 2})
	logs := eng.Logs
	srv := New(Config{Engine: eng, Logger: logs.Logger()})

	f.Fuzz(func(t *testing.T, m uint8, path, query, ctype string, body []byte) {
		method := []string{"GET", "POST", "PUT", "HEAD", "OPTIONS", "get"}[int(m)%6]
		build := func() *fasthttp.Request {
			req := &fasthttp.Request{}
			req.Header.SetMethod(method)
			uri := path
			if query != "" {
				uri += "?" + query
			}
			req.SetRequestURI(uri)
			req.Header.SetHost("ivr.test")
			if ctype != "" {
				req.Header.SetContentType(ctype)
			}
			req.SetBody(body)
			return req
		}
		var ctx fasthttp.RequestCtx
		ctx.Init(build(), nil, nil)
		rawPath := string(ctx.URI().PathOriginal())
		logs.Reset()
		srv.Handle(&ctx)
		logged := logs.String()
		if strings.Contains(logged, "panic serving request") {
			t.Fatalf("Handle panicked: %s", logged)
		}

		status := ctx.Response.StatusCode()
		respBody := ctx.Response.Body()
		if rawPath == "/healthz" {
			if status != 200 || string(respBody) != "ok\n" {
				t.Fatalf("/healthz: %d %q", status, respBody)
			}
			return
		}
		switch status {
		case 200, 400, 404, 405, 413, 415, 500, 503:
		default:
			t.Fatalf("status %d is not one the README documents", status)
		}
		if ct := string(ctx.Response.Header.ContentType()); ct != protocol.ContentType {
			t.Fatalf("Content-Type %q", ct)
		}
		resp, err := protocol.Decode(respBody)
		if err != nil {
			t.Fatalf("status %d, body fails the strict decoder: %v\n%q", status, err, respBody)
		}
		if status != 200 && len(resp.Verbs) != 0 {
			t.Fatalf("status %d with verbs %v", status, resp.Verbs)
		}
		post := method == "POST"
		form := !post || ctype == "" || formContentType(ctype) || multipartType(ctype)
		switch {
		case method != "GET" && method != "POST":
			if status != 405 {
				t.Fatalf("%s answered %d, want 405", method, status)
			}
			return
		case !form:
			if status != 415 {
				t.Fatalf("POST with Content-Type %q answered %d, want 415", ctype, status)
			}
			return
		case rawPath != "/t/echo", post && hasMediaType([]byte(ctype), "multipart/form-data"):
			// Multipart bodies have their own tests (multipart_test.go);
			// fasthttp parses none to compare with.
			return
		}
		if status != 200 {
			t.Fatalf("%s /t/echo answered %d\n%s", method, status, logged)
		}
		if n := len(resp.Verbs); n == 0 || resp.Verbs[n-1].Voice != "echo" {
			t.Fatalf("echo's answer lacks its marker: %v", resp.Verbs)
		}

		// What fasthttp parses from an identical request is the reference.
		ref := build()
		if post && ctype == "" {
			ref.Header.SetContentType("application/x-www-form-urlencoded")
		}
		want := map[string]string{}
		keep := func(k, v []byte) {
			if protocol.ValidVarName(string(k)) {
				want[string(k)] = wireText(string(v))
			}
		}
		for k, v := range ref.URI().QueryArgs().All() {
			keep(k, v)
		}
		if post {
			for k, v := range ref.PostArgs().All() {
				keep(k, v)
			}
		}
		got := map[string]string{}
		for _, v := range resp.Verbs[:len(resp.Verbs)-1] {
			if v.Kind != protocol.SetVar {
				t.Fatalf("echo answered %v", v)
			}
			if _, dup := got[v.Name]; dup {
				t.Fatalf("parameter %q set twice", v.Name)
			}
			got[v.Name] = v.Text
		}
		if len(got) != len(want) {
			t.Fatalf("echo saw %d parameters, fasthttp parsed %d:\n got %q\nwant %q", len(got), len(want), got, want)
		}
		for k, w := range want {
			if g, ok := got[k]; !ok || g != w {
				t.Fatalf("parameter %q: got %q (present %v), want %q", k, g, ok, w)
			}
		}
	})
}

// formContentType is the README's rule for a POST body: a form type,
// possibly with parameters, in any case.
func formContentType(ct string) bool {
	const form = "application/x-www-form-urlencoded"
	if len(ct) < len(form) || !strings.EqualFold(ct[:len(form)], form) {
		return false
	}
	return len(ct) == len(form) || ct[len(form)] == ';' || ct[len(form)] == ' '
}

// multipartType is a multipart/form-data type with a boundary, which
// is read as a form too.
func multipartType(ct string) bool {
	_, params, err := mime.ParseMediaType(ct)
	return err == nil && params["boundary"] != "" && hasMediaType([]byte(ct), "multipart/form-data")
}

// wireText is what a SetVar value looks like after the XML round trip:
// characters XML cannot carry replaced by U+FFFD (docs/lua-api.md).
func wireText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1,
			r < 0x20 && r != '\t' && r != '\n' && r != '\r',
			r == 0x7f, r == 0xFFFE, r == 0xFFFF:
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
