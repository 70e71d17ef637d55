package admin_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/deploy"
	"github.com/dialua/dialua/runtime/session"
)

// TestLifecycle: deploy, activate, list, diff, roll back, canary, promote,
// abort and remove over the API, each change served over the Call
// Interactive port at once.
func TestLifecycle(t *testing.T) {
	e := newEnv(t, envOptions{operator: operatorToken})
	if got := e.tag("acme"); got != "folder" {
		t.Fatalf("before any release acme answers %q, want the folder's", got)
	}

	// Uploaded without activate: stored, not serving.
	v1 := e.upload("acme", acmeToken, release("v1"), "message=first")
	if v1.Version != 1 || !strings.HasPrefix(v1.ID, "1-") || len(v1.Hash) != 64 || v1.Message != "first" ||
		v1.Created.IsZero() || len(v1.Files) != 2 || v1.State.Active != "" || v1.Tenant != "acme" {
		t.Fatalf("first upload answered %+v", v1)
	}
	if got := e.tag("acme"); got != "folder" {
		t.Fatalf("a release uploaded without activate serves: %q", got)
	}
	a := e.callJSON("POST", "/v1/tenants/acme/activate", acmeToken, `{"release": "`+v1.ID+`"}`)
	if a.status != http.StatusOK {
		t.Fatalf("activate: %d %s", a.status, a.body)
	}
	if got := e.tag("acme"); got != "v1" {
		t.Fatalf("after activating v1 acme answers %q", got)
	}

	// Uploaded with activate=true: serving at once.
	files2 := release("v2")
	files2["menu.lua"] = "response:hangup()\n"
	v2 := e.upload("acme", operatorToken, files2, "activate=true&message=second")
	if v2.State.Active != v2.ID || v2.Version != 2 {
		t.Fatalf("upload with activate=true answered %+v", v2)
	}
	if got := e.tag("acme"); got != "v2" {
		t.Fatalf("after deploying v2 acme answers %q", got)
	}

	h := e.history("acme")
	if len(h.Releases) != 2 || h.Active != v2.ID || h.Canary != nil || h.Releases[0].ID != v1.ID || h.Releases[1].Message != "second" {
		t.Fatalf("history %+v", h)
	}

	var d deploy.Diff
	a = e.call("GET", "/v1/tenants/acme/diff?from="+v1.ID+"&to="+v2.ID, acmeToken, nil)
	if a.status != http.StatusOK {
		t.Fatalf("diff: %d %s", a.status, a.body)
	}
	a.decode(t, &d)
	if !slices.Equal(d.Added, []string{"menu.lua"}) || !slices.Equal(d.Changed, []string{"ivr.lua", "lib/util.lua"}) || len(d.Removed) != 0 {
		t.Fatalf("diff %+v", d)
	}

	// Roll back with no body: the one before the active.
	a = e.call("POST", "/v1/tenants/acme/rollback", acmeToken, nil)
	var st struct {
		Active  string          `json:"active"`
		Canary  *deploy.Canary  `json:"canary"`
		Release *deploy.Release `json:"release"`
	}
	a.decode(t, &st)
	if a.status != http.StatusOK || st.Active != v1.ID || st.Release == nil || st.Release.ID != v1.ID {
		t.Fatalf("rollback: %d %s", a.status, a.body)
	}
	if got := e.tag("acme"); got != "v1" {
		t.Fatalf("after rolling back acme answers %q", got)
	}
	// Nothing older than v1.
	if a = e.call("POST", "/v1/tenants/acme/rollback", acmeToken, nil); a.status != http.StatusNotFound {
		t.Fatalf("rollback past the first release: %d %s", a.status, a.body)
	}
	// Roll "back" to a given id.
	if a = e.callJSON("POST", "/v1/tenants/acme/rollback", acmeToken, `{"to": "`+v2.ID+`"}`); a.status != http.StatusOK {
		t.Fatalf("rollback to v2: %d %s", a.status, a.body)
	}
	if got := e.tag("acme"); got != "v2" {
		t.Fatalf("after rollback to v2 acme answers %q", got)
	}

	// Canary at upload, then promote.
	v3 := e.upload("acme", acmeToken, release("v3"), "canary=30")
	if v3.State.Active != v2.ID || v3.State.Canary == nil || v3.State.Canary.Release != v3.ID || v3.State.Canary.Percent != 30 {
		t.Fatalf("upload with canary=30 answered state %+v", v3.State)
	}
	seen := map[string]int{}
	for i := range 200 {
		seen[e.tagCall("acme", "call-"+strconv.Itoa(i))]++
	}
	if seen["v3"] < 30 || seen["v2"] < 100 || seen["v3"]+seen["v2"] != 200 {
		t.Fatalf("canary of 30%% over 200 new calls: %v", seen)
	}
	if a = e.call("POST", "/v1/tenants/acme/promote", acmeToken, nil); a.status != http.StatusOK {
		t.Fatalf("promote: %d %s", a.status, a.body)
	}
	if h = e.history("acme"); h.Active != v3.ID || h.Canary != nil {
		t.Fatalf("after promote: %+v", h.State)
	}
	if a = e.call("POST", "/v1/tenants/acme/promote", acmeToken, nil); a.status != http.StatusConflict {
		t.Fatalf("promote with no canary: %d %s", a.status, a.body)
	}

	// Canary set on a stored release, then aborted.
	if a = e.callJSON("POST", "/v1/tenants/acme/canary", acmeToken, `{"release": "`+v1.ID+`", "percent": 10}`); a.status != http.StatusOK {
		t.Fatalf("canary: %d %s", a.status, a.body)
	}
	if h = e.history("acme"); h.Canary == nil || h.Canary.Release != v1.ID {
		t.Fatalf("after canary: %+v", h.State)
	}
	if a = e.call("DELETE", "/v1/tenants/acme/canary", acmeToken, nil); a.status != http.StatusOK {
		t.Fatalf("abort canary: %d %s", a.status, a.body)
	}
	if h = e.history("acme"); h.Canary != nil || h.Active != v3.ID {
		t.Fatalf("after abort: %+v", h.State)
	}

	// Removing the tenant is the operator's: the folder serves again.
	if a = e.call("DELETE", "/v1/tenants/acme", acmeToken, nil); a.status != http.StatusForbidden {
		t.Fatalf("remove with the tenant's token: %d %s", a.status, a.body)
	}
	if a = e.call("DELETE", "/v1/tenants/acme", operatorToken, nil); a.status != http.StatusOK {
		t.Fatalf("remove: %d %s", a.status, a.body)
	}
	if got := e.tag("acme"); got != "folder" {
		t.Fatalf("after removing acme's releases it answers %q", got)
	}
	if h = e.history("acme"); len(h.Releases) != 0 || h.Active != "" {
		t.Fatalf("history after remove: %+v", h)
	}
	if a = e.call("DELETE", "/v1/tenants/acme", operatorToken, nil); a.status != http.StatusNotFound {
		t.Fatalf("remove twice: %d %s", a.status, a.body)
	}

	// One log line per request, naming who, never a token.
	recs := e.logs.Records("admin request")
	if len(recs) < 20 {
		t.Fatalf("%d admin request log lines", len(recs))
	}
	who := map[any]int{}
	for _, r := range recs {
		who[r["who"]]++
		for _, k := range []string{"method", "path", "tenant", "status"} {
			if _, ok := r[k]; !ok {
				t.Errorf("log line lacks %s: %v", k, r)
			}
		}
	}
	if who["operator"] == 0 || who["tenant token"] == 0 {
		t.Errorf("log lines' who: %v", who)
	}
	for _, tok := range []string{operatorToken, acmeToken, hashOf(acmeToken)[7:]} {
		if strings.Contains(e.logs.String(), tok) {
			t.Errorf("the log holds a token: %s", tok)
		}
	}
}

// TestBrokenReleaseRefused: a release with broken files is refused whole
// with every file:line, nothing is stored, and the live release keeps
// serving over the Call Interactive port.
func TestBrokenReleaseRefused(t *testing.T) {
	e := newEnv(t, envOptions{operator: operatorToken})
	v1 := e.upload("acme", acmeToken, release("v1"), "activate=true")
	broken := release("v2")
	broken["bad.lua"] = "local a = 1\nlocal b = 2\nlocal c = = 3\n"
	broken["lib/worse.lua"] = "return {\nif then\n"
	a := e.call("POST", "/v1/tenants/acme/releases?activate=true", acmeToken, bytes.NewReader(bundle(t, broken)))
	if a.status != http.StatusUnprocessableEntity {
		t.Fatalf("broken release: %d %s", a.status, a.body)
	}
	b := a.err(t)
	if len(b.Errors) != 2 || !strings.HasPrefix(b.Errors[0], "acme/bad.lua:3: ") || !strings.HasPrefix(b.Errors[1], "acme/lib/worse.lua:2: ") {
		t.Fatalf("errors %q, want acme/bad.lua:3: and acme/lib/worse.lua:2:", b.Errors)
	}
	if !strings.Contains(b.Error, "keeps serving") {
		t.Errorf("error %q does not say the live release keeps serving", b.Error)
	}
	h := e.history("acme")
	if len(h.Releases) != 1 || h.Active != v1.ID {
		t.Fatalf("after a refused release: %+v", h)
	}
	for range 20 {
		if got := e.tag("acme"); got != "v1" {
			t.Fatalf("after a refused release acme answers %q", got)
		}
	}
}

// TestTokenScoping: a tenant's deploy token is for that tenant only; no
// token is 401; a token not accepted for the tenant is 403.
func TestTokenScoping(t *testing.T) {
	e := newEnv(t, envOptions{operator: operatorToken})
	b1 := e.upload("beta", betaToken, release("b1"), "activate=true")
	e.upload("beta", betaToken, release("b2"), "activate=true")
	body := func() io.Reader { return bytes.NewReader(bundle(t, release("evil"))) }

	for _, c := range []struct {
		name, method, path, token string
		body                      io.Reader
		want                      int
	}{
		{"acme's token deploys to beta", "POST", "/v1/tenants/beta/releases?activate=true", acmeToken, body(), 403},
		{"acme's token lists beta", "GET", "/v1/tenants/beta/releases", acmeToken, nil, 403},
		{"acme's token rolls back beta", "POST", "/v1/tenants/beta/rollback", acmeToken, nil, 403},
		{"acme's token activates beta", "POST", "/v1/tenants/beta/activate", acmeToken, strings.NewReader(`{"release":"` + b1.ID + `"}`), 403},
		{"acme's token diffs beta", "GET", "/v1/tenants/beta/diff?from=" + b1.ID + "&to=" + b1.ID, acmeToken, nil, 403},
		{"no token", "GET", "/v1/tenants/beta/releases", "", nil, 401},
		{"no token deploys", "POST", "/v1/tenants/beta/releases", "", body(), 401},
		{"wrong token", "POST", "/v1/tenants/beta/rollback", "not-a-token-at-all", nil, 403},
		{"a token's hash as the token", "GET", "/v1/tenants/beta/releases", hashOf(betaToken), nil, 403},
		{"a tenant without tokens", "GET", "/v1/tenants/folderonly/releases", betaToken, nil, 403},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := e.call(c.method, c.path, c.token, c.body)
			if a.status != c.want {
				t.Fatalf("%s %s: %d, want %d: %s", c.method, c.path, a.status, c.want, a.body)
			}
			a.err(t)
			if c.want == 401 && !strings.HasPrefix(a.header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: Bearer")
			}
		})
	}
	// Another scheme than Bearer is no token.
	req, _ := http.NewRequest("GET", e.admin+"/v1/tenants/beta/releases", nil)
	req.SetBasicAuth("beta", betaToken)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("basic auth: %d, want 401", resp.StatusCode)
	}
	// Nothing of that changed beta, which still serves b2.
	if h := e.history("beta"); len(h.Releases) != 2 || h.Active == b1.ID {
		t.Fatalf("beta after refused requests: %+v", h.State)
	}
	if got := e.tag("beta"); got != "b2" {
		t.Fatalf("beta answers %q", got)
	}
	// The operator token is good for every tenant.
	if a := e.call("POST", "/v1/tenants/beta/rollback", operatorToken, nil); a.status != 200 {
		t.Fatalf("operator rollback of beta: %d %s", a.status, a.body)
	}
	if a := e.call("GET", "/v1/tenants/folderonly/releases", operatorToken, nil); a.status != 200 {
		t.Fatalf("operator list of a tenant without releases: %d %s", a.status, a.body)
	}
}

// TestNoTokenConfigured: with no operator token and no deploy_tokens the
// API refuses everything, saying how to set a token; health endpoints need
// none.
func TestNoTokenConfigured(t *testing.T) {
	e := newEnv(t, envOptions{tenantsYML: "tenants:\n  acme: {}\n"})
	for _, c := range []struct{ method, path string }{
		{"POST", "/v1/tenants/acme/releases?activate=true"},
		{"POST", "/v1/tenants/acme/rollback"},
		{"DELETE", "/v1/tenants/acme"},
		{"GET", "/v1/tenants/acme/releases"},
	} {
		for _, tok := range []string{"", "anything-at-all-long"} {
			var body io.Reader
			if c.method == "POST" {
				body = bytes.NewReader(bundle(t, release("x")))
			}
			a := e.call(c.method, c.path, tok, body)
			if a.status != http.StatusForbidden || !strings.Contains(a.err(t).Error, "DIALUA_ADMIN_TOKEN") {
				t.Errorf("%s %s (token %q): %d %s", c.method, c.path, tok, a.status, a.body)
			}
		}
	}
	if h, _ := e.store.Tenants(t.Context()); len(h) != 0 {
		t.Fatalf("something was stored: %v", h)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if a := e.call("GET", p, "", nil); a.status != 200 {
			t.Errorf("%s: %d %s", p, a.status, a.body)
		}
	}
}

// downSessions is a session store whose Ping fails, as Redis down.
type downSessions struct{ session.Store }

func (downSessions) Ping(context.Context) error { return io.ErrUnexpectedEOF }

// TestReadyz: ready until draining; not ready with the session store
// unreachable or the release store closed.
func TestReadyz(t *testing.T) {
	e := newEnv(t, envOptions{operator: operatorToken})
	if a := e.call("GET", "/readyz", "", nil); a.status != 200 || !strings.Contains(string(a.body), `"releases": "ok"`) {
		t.Fatalf("readyz: %d %s", a.status, a.body)
	}
	if a := e.call("GET", "/healthz", "", nil); a.status != 200 {
		t.Fatalf("healthz: %d %s", a.status, a.body)
	}
	if a := e.call("POST", "/healthz", "", nil); a.status != http.StatusMethodNotAllowed {
		t.Fatalf("POST healthz: %d %s", a.status, a.body)
	}
	e.adm.Drain()
	if a := e.call("GET", "/readyz", "", nil); a.status != 503 || !strings.Contains(string(a.body), "draining") {
		t.Fatalf("readyz while draining: %d %s", a.status, a.body)
	}
	if a := e.call("GET", "/healthz", "", nil); a.status != 200 {
		t.Fatalf("healthz while draining: %d %s", a.status, a.body)
	}

	mem := session.NewMemory(session.MemoryLimits{})
	defer mem.Close()
	down := newEnv(t, envOptions{operator: operatorToken, sessions: downSessions{mem}})
	if a := down.call("GET", "/readyz", "", nil); a.status != 503 || !strings.Contains(string(a.body), "sessions") {
		t.Fatalf("readyz with the session store down: %d %s", a.status, a.body)
	}

	closed := newEnv(t, envOptions{operator: operatorToken})
	closed.store.Close()
	if a := closed.call("GET", "/readyz", "", nil); a.status != 503 || !strings.Contains(string(a.body), "releases") {
		t.Fatalf("readyz with the release store closed: %d %s", a.status, a.body)
	}
}

// TestBadRequests: limits are 413, malformed bodies 400, unknown things
// 404, conflicts 409, each with a JSON error saying what to fix.
func TestBadRequests(t *testing.T) {
	e := newEnv(t, envOptions{operator: operatorToken, limits: deploy.Limits{MaxTotalBytes: 64 << 10, MaxFiles: 3}})
	v1 := e.upload("acme", acmeToken, release("v1"), "activate=true")
	random := make([]byte, 100<<10)
	rand.Read(random)
	var gzRandom bytes.Buffer // a bundle over the limit before it inflates
	if err := deploy.WriteBundle(&gzRandom, deploy.Files{"big.lua": random}); err != nil {
		t.Fatal(err)
	}
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zw.Write(make([]byte, 1<<20))
	zw.Close()
	many := release("m")
	many["a.lua"], many["b.lua"] = "", ""

	post := func(path, ctype string, body io.Reader, chunked bool) answer {
		if chunked {
			body = io.MultiReader(body) // hides the length: sent chunked
		}
		return e.call("POST", path, acmeToken, body)
	}
	for _, c := range []struct {
		name string
		a    answer
		want int
		msg  string
	}{
		{"body over the limit", post("/v1/tenants/acme/releases", "", bytes.NewReader(random), false), 413, "at most"},
		{"chunked body over the limit", post("/v1/tenants/acme/releases", "", &gzRandom, true), 413, "at most"},
		{"decompressed over the limit", post("/v1/tenants/acme/releases", "", &bomb, false), 413, "decompressed"},
		{"too many files", post("/v1/tenants/acme/releases", "", bytes.NewReader(bundle(t, many)), false), 413, "files"},
		{"not gzip", post("/v1/tenants/acme/releases", "", strings.NewReader("hello"), false), 400, "gzip"},
		{"empty body", post("/v1/tenants/acme/releases", "", nil, false), 400, "empty"},
		{"bad canary", post("/v1/tenants/acme/releases?canary=100", "", bytes.NewReader(bundle(t, release("x"))), false), 400, "1 to 99"},
		{"canary and activate", post("/v1/tenants/acme/releases?canary=5&activate=true", "", bytes.NewReader(bundle(t, release("x"))), false), 400, "choose one"},
		{"bad activate", post("/v1/tenants/acme/releases?activate=yes", "", bytes.NewReader(bundle(t, release("x"))), false), 400, "true or false"},
		{"activate bad JSON", e.callJSON("POST", "/v1/tenants/acme/activate", acmeToken, `{"release": 3}`), 400, `"release"`},
		{"activate unknown field", e.callJSON("POST", "/v1/tenants/acme/activate", acmeToken, `{"id": "1-00000000"}`), 400, "unknown field"},
		{"activate no body", e.callJSON("POST", "/v1/tenants/acme/activate", acmeToken, ``), 400, "empty body"},
		{"activate unknown release", e.callJSON("POST", "/v1/tenants/acme/activate", acmeToken, `{"release": "9-00000000"}`), 404, "releases"},
		{"activate malformed id", e.callJSON("POST", "/v1/tenants/acme/activate", acmeToken, `{"release": "v1"}`), 400, "7-3fa9c2e1"},
		{"canary of the active", e.callJSON("POST", "/v1/tenants/acme/canary", acmeToken, `{"release": "`+v1.ID+`", "percent": 5}`), 409, "already"},
		{"canary percent 0", e.callJSON("POST", "/v1/tenants/acme/canary", acmeToken, `{"release": "`+v1.ID+`", "percent": 0}`), 400, "DELETE"},
		{"diff without to", e.call("GET", "/v1/tenants/acme/diff?from="+v1.ID, acmeToken, nil), 400, "to="},
		{"unknown action", e.call("GET", "/v1/tenants/acme/frobnicate", acmeToken, nil), 404, "releases, activate"},
		{"unknown path", e.call("GET", "/v2/whatever", acmeToken, nil), 404, "/v1/tenants"},
		{"wrong method", e.call("PUT", "/v1/tenants/acme/releases", acmeToken, nil), 405, "POST or GET"},
		{"bad tenant name", e.call("GET", "/v1/tenants/.hidden/releases", operatorToken, nil), 400, "tenant name"},
		{"rollback a tenant without releases", e.call("POST", "/v1/tenants/beta/rollback", operatorToken, nil), 404, "upload a release first"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.a.status != c.want {
				t.Fatalf("%d, want %d: %s", c.a.status, c.want, c.a.body)
			}
			if b := c.a.err(t); !strings.Contains(b.Error, c.msg) {
				t.Errorf("error %q lacks %q", b.Error, c.msg)
			}
		})
	}
	// A canary upload to a tenant with no active release is refused
	// before anything is stored.
	a := e.call("POST", "/v1/tenants/beta/releases?canary=5", betaToken, bytes.NewReader(bundle(t, release("x"))))
	if a.status != 409 {
		t.Fatalf("canary upload with no active release: %d %s", a.status, a.body)
	}
	if h := e.history("beta"); len(h.Releases) != 0 {
		t.Fatalf("a refused canary upload stored %+v", h.Releases)
	}
	if h := e.history("acme"); len(h.Releases) != 1 || h.Active != v1.ID {
		t.Fatalf("refused requests changed acme: %+v", h)
	}
}

// TestDeployAndRollbackUnderLoad: while a bounded load loop runs against a
// tenant over the Call Interactive port, a deploy and a rollback through
// the API fail no request and mix no responses, and both land mid-loop.
func TestDeployAndRollbackUnderLoad(t *testing.T) {
	e := newEnv(t, envOptions{operator: operatorToken})
	e.upload("acme", acmeToken, release("v1"), "activate=true")

	var (
		stop     atomic.Bool
		total    atomic.Int64
		mu       sync.Mutex
		failures []string
		seen     = map[string]int{}
		wg       sync.WaitGroup
	)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	const workers, maxPerWorker = 8, 2000
	for w := range workers {
		wg.Go(func() {
			for i := 0; i < maxPerWorker && !stop.Load(); i++ {
				params := url.Values{}
				if i%2 == 0 {
					params.Set("CallID", "c"+string(rune('a'+w))+strings.Repeat("x", i%7)+"-"+time.Now().Format("150405.000000"))
				}
				vars, err := e.get(client, "acme", params)
				total.Add(1)
				mu.Lock()
				switch {
				case err != nil:
					failures = append(failures, err.Error())
				case vars["script"] != vars["lib"]:
					failures = append(failures, "mixed: "+vars["script"]+"/"+vars["lib"])
				default:
					seen[vars["script"]]++
				}
				mu.Unlock()
			}
		})
	}
	waitFor := func(n int64) {
		deadline := time.Now().Add(10 * time.Second)
		for total.Load() < n && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor(200)
	before := total.Load()
	e.upload("acme", acmeToken, release("v2"), "activate=true")
	waitFor(before + 300)
	mid := total.Load()
	if a := e.call("POST", "/v1/tenants/acme/rollback", acmeToken, nil); a.status != 200 {
		t.Errorf("rollback under load: %d %s", a.status, a.body)
	}
	waitFor(mid + 300)
	stop.Store(true)
	wg.Wait()

	if len(failures) > 0 {
		t.Fatalf("%d of %d requests failed, first: %s", len(failures), total.Load(), failures[0])
	}
	if seen["v1"] == 0 || seen["v2"] == 0 || seen["v1"]+seen["v2"] != int(total.Load()) {
		t.Fatalf("served %v of %d: want both releases and nothing else", seen, total.Load())
	}
	if got := e.tag("acme"); got != "v1" {
		t.Fatalf("after the rollback acme answers %q", got)
	}
	t.Logf("%d requests, %v, 0 failed", total.Load(), seen)
}
