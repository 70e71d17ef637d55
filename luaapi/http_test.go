package luaapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/testkit"
)

const backendJSON = `{"balance": 12.5, "name": "Ana", "items": [10, 20, 30], "ok": true}`

// newBackend is a loopback backend answering by path:
//
//	/json   201, JSON body, X-Reply header
//	/text   200, text/plain
//	/big    2000 bytes
//	/slow   waits ?d= (default 2s), or until the client goes away
//	other   200 "ok"
func newBackend(t *testing.T) *testkit.Backend {
	t.Helper()
	return testkit.NewBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/json":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Reply", "yes")
			w.WriteHeader(201)
			io.WriteString(w, backendJSON)
		case "/text":
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, `{"not": "decoded"}`)
		case "/big":
			io.WriteString(w, strings.Repeat("x", 2000))
		case "/slow":
			d, err := time.ParseDuration(r.URL.Query().Get("d"))
			if err != nil || d <= 0 || d > 3*time.Second {
				d = 2 * time.Second
			}
			select {
			case <-time.After(d):
			case <-r.Context().Done():
				return
			}
			io.WriteString(w, "late")
		default:
			io.WriteString(w, "ok")
		}
	}))
}

// put is a prelude for scripts: report any value as a variable.
const put = `local function put(k, v) response:set_var(k, v == nil and "<nil>" or tostring(v)) end
`

// httpEngine writes scripts (each with the put prelude) and a tenants.yaml
// into a temp scripts root and starts an engine over them.
func httpEngine(t *testing.T, tenants string, scripts map[string]string, opts engine.Options) *testkit.Engine {
	t.Helper()
	files := map[string]string{}
	for k, v := range scripts {
		files[k] = put + v
	}
	dir := testkit.Scripts(t, files)
	if tenants != "" {
		testkit.WriteFile(t, filepath.Join(dir, "tenants.yaml"), tenants)
	}
	return testkit.NewEngine(t, dir, opts)
}

// call runs a script with the url parameter u and returns its variables.
func call(t *testing.T, e *testkit.Engine, path, u string) (map[string]string, []protocol.Verb) {
	t.Helper()
	vs := e.Verbs(t, path, "u", u)
	return testkit.Vars(vs), vs
}

func TestScriptHTTPGetJSON(t *testing.T) {
	b := newBackend(t)
	e := httpEngine(t, `tenants: {a: {http: {allow: ["example.com"], timeout: 2s, max_body: 1000}}}`, map[string]string{
		"a/get.lua": `
local resp, err = http.get(request.params.u .. "/json")
put("err", err)
put("status", resp.status)
put("reply", resp.headers["x-reply"])
put("ctype", resp.headers["content-type"])
put("body", resp.body)
put("balance", resp.json.balance)
put("name", resp.json.name)
put("items", #resp.json.items)
put("item2", resp.json.items[2])
put("ok", resp.json.ok)
local text = http.get(request.params.u .. "/text")
put("text_status", text.status)
put("text_json", text.json)
put("text_body", text.body)
`,
	}, engine.Options{Dev: true, Timeout: 3 * time.Second})
	got, _ := call(t, e, "/a/get", b.URL)
	want := map[string]string{
		"err": "<nil>", "status": "201", "reply": "yes", "ctype": "application/json",
		"body": backendJSON, "balance": "12.5", "name": "Ana", "items": "3", "item2": "20", "ok": "true",
		"text_status": "200", "text_json": "<nil>", "text_body": `{"not": "decoded"}`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	reqs := b.Received()
	if len(reqs) != 2 || reqs[0].Method != "GET" || reqs[0].Path != "/json" || reqs[0].Body != "" {
		t.Fatalf("backend received %+v", reqs)
	}
	if ua := reqs[0].Header.Get("User-Agent"); ua != "dialua" {
		t.Errorf("User-Agent %q", ua)
	}
}

func TestScriptHTTPPostTableAsJSON(t *testing.T) {
	b := newBackend(t)
	e := httpEngine(t, `tenants: {a: {http: {timeout: 2s}}}`, map[string]string{
		"a/post.lua": `
local resp, err = http.post(request.params.u .. "/hook", {caller = "0722", digits = 5, tags = {"x", "y"}, nested = {k = true}})
put("err", err)
put("status", resp and resp.status)
put("body", resp and resp.body)
`,
	}, engine.Options{Dev: true, Timeout: 3 * time.Second})
	got, _ := call(t, e, "/a/post", b.URL)
	if got["err"] != "<nil>" || got["status"] != "200" || got["body"] != "ok" {
		t.Errorf("script saw %v", got)
	}
	reqs := b.Received()
	if len(reqs) != 1 {
		t.Fatalf("backend received %d requests", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.Path != "/hook" {
		t.Errorf("got %s %s", r.Method, r.Path)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
		t.Fatalf("body %q is not JSON: %v", r.Body, err)
	}
	want := map[string]any{"caller": "0722", "digits": 5.0, "tags": []any{"x", "y"}, "nested": map[string]any{"k": true}}
	if !reflect.DeepEqual(body, want) {
		t.Errorf("body %v, want %v", body, want)
	}
}

func TestScriptHTTPRequestPut(t *testing.T) {
	b := newBackend(t)
	e := httpEngine(t, "", map[string]string{
		"a/put.lua": `
local resp, err = http.request{
  method = "put",
  url = request.params.u .. "/items/7",
  headers = {["X-Token"] = "abc123", ["Content-Type"] = "text/plain"},
  body = "hello there",
}
put("err", err)
put("status", resp and resp.status)
`,
	}, engine.Options{Dev: true, Timeout: 3 * time.Second})
	got, _ := call(t, e, "/a/put", b.URL)
	if got["err"] != "<nil>" || got["status"] != "200" {
		t.Errorf("script saw %v", got)
	}
	reqs := b.Received()
	if len(reqs) != 1 {
		t.Fatalf("backend received %d requests", len(reqs))
	}
	r := reqs[0]
	if r.Method != "PUT" || r.Path != "/items/7" || r.Body != "hello there" {
		t.Errorf("got %s %s %q", r.Method, r.Path, r.Body)
	}
	if r.Header.Get("X-Token") != "abc123" || r.Header.Get("Content-Type") != "text/plain" || r.Header.Get("User-Agent") != "dialua" {
		t.Errorf("headers %v", r.Header)
	}
}

// TestScriptHTTPLoopbackNeedsDev: without dev mode, loopback is refused even
// when the tenant lists it, by address or by name.
func TestScriptHTTPLoopbackNeedsDev(t *testing.T) {
	b := newBackend(t)
	port := strings.TrimPrefix(b.URL, "http://127.0.0.1:")
	tenants := fmt.Sprintf(`tenants: {a: {http: {allow: [%q, "127.0.0.1", "localhost:%s"], timeout: 2s}}}`, b.HostPort(), port)
	e := httpEngine(t, tenants, map[string]string{
		"a/call.lua": `
local resp, err = http.get(request.params.u)
put("err", err)
put("status", resp and resp.status)
response:play_tts{"fallback", voice = "v"}
`,
	}, engine.Options{Timeout: 3 * time.Second})
	for _, u := range []string{b.URL + "/x", "http://localhost:" + port + "/x"} {
		got, vs := call(t, e, "/a/call", u)
		if !strings.Contains(got["err"], "not allowed") || got["status"] != "<nil>" {
			t.Errorf("%s: script saw %v", u, got)
		}
		if last := vs[len(vs)-1]; last.Kind != protocol.PlayTTS || last.Text != "fallback" {
			t.Errorf("%s: fallback verb missing: %v", u, vs)
		}
	}
	if n := len(b.Received()); n != 0 {
		t.Errorf("backend received %d requests, want 0", n)
	}
}

// TestScriptHTTPDevAllowsLoopback: in dev mode a tenant with no allowlist (and
// no tenants file at all) reaches a loopback backend.
func TestScriptHTTPDevAllowsLoopback(t *testing.T) {
	b := newBackend(t)
	e := httpEngine(t, "", map[string]string{
		"a/call.lua": `
local resp, err = http.get(request.params.u)
put("err", err)
put("status", resp and resp.status)
put("body", resp and resp.body)
`,
	}, engine.Options{Dev: true, Timeout: 3 * time.Second})
	for _, u := range []string{b.URL + "/x", strings.Replace(b.URL, "127.0.0.1", "localhost", 1) + "/y"} {
		got, _ := call(t, e, "/a/call", u)
		if got["err"] != "<nil>" || got["status"] != "200" || got["body"] != "ok" {
			t.Errorf("%s: script saw %v", u, got)
		}
	}
	if n := len(b.Received()); n != 2 {
		t.Errorf("backend received %d requests, want 2", n)
	}
}

// TestScriptHTTPUnlistedHostRefusedLocally: a host not on the allowlist is
// refused by the allowlist check itself, before any lookup or connection (a
// lookup of a .invalid name would fail with a different error).
func TestScriptHTTPUnlistedHostRefusedLocally(t *testing.T) {
	e := httpEngine(t, `tenants: {a: {http: {allow: ["example.com"], timeout: 300ms}}}`, map[string]string{
		"a/call.lua": `
local resp, err = http.get(request.params.u)
put("err", err)
put("status", resp and resp.status)
`,
	}, engine.Options{Dev: true, Timeout: 3 * time.Second})
	for _, u := range []string{
		"http://api.unlisted.invalid/x",
		"http://sub.example.com/", // exact entry: no subdomains
		"http://evilexample.com/", // lookalike
		"http://example.com.invalid/",
		"http://10.9.8.7:81/",
		"http://169.254.169.254/latest/meta-data/",
	} {
		t0 := time.Now()
		got, _ := call(t, e, "/a/call", u)
		if !strings.Contains(got["err"], "not in this tenant's http allowlist") || got["status"] != "<nil>" {
			t.Errorf("%s: script saw %v", u, got)
		}
		if d := time.Since(t0); d > 500*time.Millisecond {
			t.Errorf("%s: took %v; the refusal should not wait on the network", u, d)
		}
	}
}

func TestScriptHTTPTimeout(t *testing.T) {
	b := newBackend(t)
	e := httpEngine(t, `tenants: {a: {http: {timeout: 300ms}}, c: {http: {timeout: 2s}}}`, map[string]string{
		"a/call.lua": `
local resp, err = http.get(request.params.u .. "/slow?d=2s")
put("err", err)
put("status", resp and resp.status)
response:play_tts{"Sorry, please try again later", voice = "v"}
response:hangup()
`,
		"c/short.lua": `
local resp, err = http.get(request.params.u .. "/slow?d=2s", {timeout = 0.1})
put("err", err)
`,
	}, engine.Options{Dev: true, Timeout: 1500 * time.Millisecond})
	t0 := time.Now()
	got, vs := call(t, e, "/a/call", b.URL)
	d := time.Since(t0)
	if got["err"] != "timeout" || got["status"] != "<nil>" {
		t.Errorf("script saw %v", got)
	}
	testkit.SameVerbs(t, vs, []protocol.Verb{
		{Kind: protocol.SetVar, Name: "err", Text: "timeout"},
		{Kind: protocol.SetVar, Name: "status", Text: "<nil>"},
		{Kind: protocol.PlayTTS, Text: "Sorry, please try again later", Voice: "v"},
		{Kind: protocol.Hangup},
	})
	if d < 250*time.Millisecond || d > time.Second {
		t.Errorf("request took %v, want about 300ms", d)
	}

	// A per-call timeout shorter than the tenant's (2s) wins.
	t0 = time.Now()
	got, _ = call(t, e, "/c/short", b.URL)
	if d := time.Since(t0); got["err"] != "timeout" || d > time.Second {
		t.Errorf("per-call timeout: %v after %v", got, d)
	}
	if n := len(b.Received()); n != 2 {
		t.Errorf("backend received %d requests, want 2", n)
	}
}

// TestScriptHTTPRunDeadlineCapsCall: a tenant http timeout longer than the
// run's deadline does not let a call outlive the run.
func TestScriptHTTPRunDeadlineCapsCall(t *testing.T) {
	b := newBackend(t)
	e := httpEngine(t, `tenants: {a: {http: {timeout: 10s}}}`, map[string]string{
		"a/call.lua": `
local resp, err = http.get(request.params.u .. "/slow?d=3s")
put("err", err)
`,
	}, engine.Options{Dev: true, Timeout: 400 * time.Millisecond})
	t0 := time.Now()
	se := e.Fail(t, "/a/call", "u", b.URL)
	d := time.Since(t0)
	if d > 1500*time.Millisecond {
		t.Errorf("request took %v; the run's 400ms deadline should end the call", d)
	}
	if se.Kind != engine.KindTimeout {
		t.Errorf("failure: %v", se)
	}
}

func TestScriptHTTPBodyCap(t *testing.T) {
	b := newBackend(t)
	e := httpEngine(t, `tenants: {a: {http: {timeout: 2s, max_body: 1000}}}`, map[string]string{
		"a/call.lua": `
local resp, err = http.get(request.params.u)
put("err", err)
put("len", resp and #resp.body)
`,
	}, engine.Options{Dev: true, Timeout: 3 * time.Second})
	got, _ := call(t, e, "/a/call", b.URL+"/big")
	if !strings.Contains(got["err"], "larger than 1000") || got["len"] != "<nil>" {
		t.Errorf("2000-byte body: script saw %v", got)
	}
	got, _ = call(t, e, "/a/call", b.URL+"/json")
	if got["err"] != "<nil>" || got["len"] != fmt.Sprint(len(backendJSON)) {
		t.Errorf("small body: script saw %v", got)
	}
}

// TestScriptHTTPTenantIsolation: one tenant's allowlist is not another's
// (an allowlist under defaults is refused when the tenants file is read:
// runtime/tenant's strictness tests), and in dev mode (where both can reach
// loopback) tenants never share a connection.
func TestScriptHTTPTenantIsolation(t *testing.T) {
	b := newBackend(t)
	script := `
local resp, err = http.get(request.params.u)
put("err", err)
put("status", resp and resp.status)
`
	tenants := fmt.Sprintf(`tenants:
  a: {http: {allow: [%q, "api.example.com"], timeout: 2s}}
  b: {http: {timeout: 2s}}
`, b.HostPort())
	e := httpEngine(t, tenants, map[string]string{"a/call.lua": script, "b/call.lua": script}, engine.Options{Timeout: 3 * time.Second})

	// Tenant a passes its allowlist and is stopped only at the address check
	// (loopback without dev mode); tenant b is stopped by its own, empty,
	// allowlist.
	got, _ := call(t, e, "/a/call", b.URL+"/x")
	if !strings.Contains(got["err"], "address 127.0.0.1 not allowed") {
		t.Errorf("tenant a: %v", got)
	}
	for _, u := range []string{b.URL + "/x", "http://api.example.com/", "http://shared.example.com/"} {
		got, _ := call(t, e, "/b/call", u)
		if !strings.Contains(got["err"], "not in this tenant's http allowlist") || got["status"] != "<nil>" {
			t.Errorf("tenant b, %s: %v", u, got)
		}
	}
	if n := len(b.Received()); n != 0 {
		t.Errorf("backend received %d requests, want 0", n)
	}

	// Dev mode: each tenant's calls reuse that tenant's connection, never
	// the other's.
	twice := put + `
for i = 1, 2 do
  local resp, err = http.get(request.params.u)
  put("err" .. i, err)
end
`
	dev := testkit.NewEngine(t, testkit.Scripts(t, map[string]string{"a/two.lua": twice, "b/two.lua": twice}), engine.Options{Dev: true, Timeout: 3 * time.Second})
	for _, tn := range []string{"a", "b"} {
		got, _ := call(t, dev, "/"+tn+"/two", b.URL+"/"+tn)
		if got["err1"] != "<nil>" || got["err2"] != "<nil>" {
			t.Errorf("tenant %s: %v", tn, got)
		}
	}
	reqs := b.Received()
	if len(reqs) != 4 {
		t.Fatalf("backend received %d requests, want 4", len(reqs))
	}
	if reqs[0].Path != "/a" || reqs[2].Path != "/b" {
		t.Fatalf("order: %+v", reqs)
	}
	if reqs[0].Remote != reqs[1].Remote || reqs[2].Remote != reqs[3].Remote {
		t.Errorf("a tenant's second call did not reuse its connection: %s %s / %s %s", reqs[0].Remote, reqs[1].Remote, reqs[2].Remote, reqs[3].Remote)
	}
	if reqs[0].Remote == reqs[2].Remote {
		t.Errorf("tenant b's call used tenant a's connection %s", reqs[0].Remote)
	}
}
