package admin_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/admin"
	"github.com/dialua/dialua/runtime/deploy"
	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/loader"
	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/sandbox"
	"github.com/dialua/dialua/runtime/server"
	"github.com/dialua/dialua/runtime/session"
	"github.com/dialua/dialua/runtime/tenant"
	"github.com/dialua/dialua/runtime/testkit"
)

// Engines refuse to start before gopher-lua's process-wide array limit is
// set, as cmd/dialua's main sets it.
func TestMain(m *testing.M) {
	sandbox.LimitArrays()
	os.Exit(m.Run())
}

const (
	operatorToken = "operator-token-0123456789"
	acmeToken     = "acme-deploy-token-1"
	betaToken     = "beta-deploy-token-1"
)

func hashOf(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// release is a tenant tree whose script and module both say which release
// they are: a response mixing two releases shows.
func release(tag string) map[string]string {
	return map[string]string{
		"ivr.lua":      fmt.Sprintf("local u = require(\"util\")\nresponse:set_var(\"script\", %q)\nresponse:set_var(\"lib\", u.tag)\n", tag),
		"lib/util.lua": fmt.Sprintf("return { tag = %q }\n", tag),
	}
}

func bundle(t testing.TB, files map[string]string) []byte {
	t.Helper()
	fs := deploy.Files{}
	for p, s := range files {
		fs[p] = []byte(s)
	}
	var buf bytes.Buffer
	if err := deploy.WriteBundle(&buf, fs); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// env is the whole server in one process: a disk store in a temp dir, the
// engine over it and a scripts folder, the Call Interactive server and the
// admin API, each on its own 127.0.0.1 port.
type env struct {
	t        testing.TB
	scripts  string
	store    *deploy.Disk
	adm      *admin.Server
	admin    string // http://127.0.0.1:port
	ivr      string // http://127.0.0.1:port
	logs     *testkit.Logs
	client   *http.Client
	sessions session.Store
}

type envOptions struct {
	operator   string // "" none
	tenantsYML string // "" the default one (deploy tokens for acme and beta)
	limits     deploy.Limits
	sessions   session.Store
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	if o.tenantsYML == "" {
		o.tenantsYML = fmt.Sprintf("tenants:\n  acme:\n    deploy_tokens: [%q]\n  beta:\n    deploy_tokens: [%q]\n", hashOf(acmeToken), hashOf(betaToken))
	}
	e := &env{t: t, logs: testkit.NewLogs(), client: &http.Client{Timeout: 10 * time.Second}}
	log := e.logs.Logger()
	e.scripts = testkit.Scripts(t, map[string]string{
		"acme/ivr.lua":       "response:set_var(\"script\", \"folder\")\nresponse:set_var(\"lib\", \"folder\")\n",
		"tenants.yaml":       o.tenantsYML,
		"beta/ivr.lua":       "response:set_var(\"script\", \"beta-folder\")\nresponse:set_var(\"lib\", \"beta-folder\")\n",
		"folderonly/ivr.lua": "response:hangup()\n",
	})
	st, err := deploy.OpenDisk(filepath.Join(t.TempDir(), "data"), log)
	if err != nil {
		t.Fatal(err)
	}
	e.store = st
	t.Cleanup(func() { st.Close() })
	e.sessions = o.sessions
	if e.sessions == nil {
		e.sessions = session.NewMemory(session.MemoryLimits{})
		t.Cleanup(func() { e.sessions.Close() })
	}
	reg, err := tenant.NewRegistry(filepath.Join(e.scripts, "tenants.yaml"), log)
	if err != nil {
		t.Fatal(err)
	}
	folder, err := loader.NewFolder(e.scripts, true, log)
	if err != nil {
		t.Fatal(err)
	}
	src := deploy.NewSource(st, folder)
	t.Cleanup(src.Close)
	pick, err := deploy.NewPicker(st, deploy.PickerOptions{Sessions: e.sessions, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pick.Close)
	eng, err := engine.New(engine.Options{Source: src, Releases: pick, Sessions: e.sessions, Tenants: reg, Timeout: 5 * time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	srv := server.New(server.Config{Engine: eng, Logger: log})
	e.ivr = serveOn(t, srv.Serve, func(ctx context.Context) error { return srv.Shutdown(ctx) })

	op, err := admin.ParseToken(o.operator)
	if err != nil {
		t.Fatal(err)
	}
	adm, err := admin.New(admin.Config{Store: st, Tenants: reg, Operator: op, Sessions: e.sessions, Limits: o.limits, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	e.adm = adm
	hs := adm.HTTPServer()
	e.admin = serveOn(t, hs.Serve, hs.Shutdown)
	return e
}

// serveOn serves on a fresh 127.0.0.1 port until the test ends.
func serveOn(t testing.TB, serve func(net.Listener) error, shutdown func(context.Context) error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { serve(ln); close(done) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shutdown(ctx)
		<-done
	})
	return "http://" + ln.Addr().String()
}

// answer is an admin API answer.
type answer struct {
	status int
	body   []byte
	header http.Header
}

func (a answer) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("answer %d is not JSON (%v): %s", a.status, err, a.body)
	}
}

// errBody is an error answer.
type errBody struct {
	Error  string   `json:"error"`
	Errors []string `json:"errors"`
}

func (a answer) err(t testing.TB) errBody {
	t.Helper()
	var b errBody
	a.decode(t, &b)
	if b.Error == "" {
		t.Fatalf("error answer %d has no error message: %s", a.status, a.body)
	}
	return b
}

// call makes an admin API request; token "" sends no Authorization.
func (e *env) call(method, path, token string, body io.Reader) answer {
	e.t.Helper()
	req, err := http.NewRequest(method, e.admin+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return answer{status: resp.StatusCode, body: b, header: resp.Header}
}

func (e *env) callJSON(method, path, token, body string) answer {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	return e.call(method, path, token, r)
}

// releaseAnswer is an upload's answer.
type releaseAnswer struct {
	deploy.Release
	Tenant string       `json:"tenant"`
	State  deploy.State `json:"state"`
}

// upload uploads files for tenant with query (e.g. "activate=true") and
// wants 201.
func (e *env) upload(tenant, token string, files map[string]string, query string) releaseAnswer {
	e.t.Helper()
	a := e.call("POST", "/v1/tenants/"+tenant+"/releases?"+query, token, bytes.NewReader(bundle(e.t, files)))
	if a.status != http.StatusCreated {
		e.t.Fatalf("upload to %s: status %d, want 201: %s", tenant, a.status, a.body)
	}
	var r releaseAnswer
	a.decode(e.t, &r)
	return r
}

func (e *env) history(tenant string) deploy.History {
	e.t.Helper()
	a := e.call("GET", "/v1/tenants/"+tenant+"/releases", operatorToken, nil)
	if a.status != http.StatusOK {
		e.t.Fatalf("history of %s: status %d: %s", tenant, a.status, a.body)
	}
	var h deploy.History
	a.decode(e.t, &h)
	return h
}

// get runs tenant's ivr script over the Call Interactive port and returns
// its vars, or an error for anything but a 200 with a valid document.
func (e *env) get(client *http.Client, tenant string, params url.Values) (map[string]string, error) {
	resp, err := client.Get(e.ivr + "/" + tenant + "/ivr?" + params.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	doc, err := protocol.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("decode: %v: %s", err, b)
	}
	return testkit.Vars(doc.Verbs), nil
}

// tag is the release tag tenant's ivr answers with, to a request without
// a CallID (the live release).
func (e *env) tag(tenant string) string {
	e.t.Helper()
	return e.tagCall(tenant, "")
}

// tagCall is tag for a request of call callID ("": none).
func (e *env) tagCall(tenant, callID string) string {
	e.t.Helper()
	params := url.Values{}
	if callID != "" {
		params.Set("CallID", callID)
	}
	vars, err := e.get(e.client, tenant, params)
	if err != nil {
		e.t.Fatalf("%s/ivr: %v", tenant, err)
	}
	if vars["script"] != vars["lib"] {
		e.t.Fatalf("%s/ivr: mixed response: script %q, lib %q", tenant, vars["script"], vars["lib"])
	}
	return vars["script"]
}
