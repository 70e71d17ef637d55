package auth_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/auth"
	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/sandbox"
	"github.com/dialua/dialua/runtime/server"
	"github.com/dialua/dialua/runtime/tenant"
)

func TestMain(m *testing.M) {
	sandbox.LimitArrays()
	os.Exit(m.Run())
}

func sha(s string) string { b := sha256.Sum256([]byte(s)); return hex.EncodeToString(b[:]) }

// Every secret of the tenants file below, and every wrong one the tests
// send: none may appear anywhere in the log.
var secrets = []string{"basic-pass-one", "basic-pass-two", "tok-header-secret", "tok-param-secret",
	"hmac-key-number-one", "hmac-key-number-two", "combo-pass", "combo-token",
	"wrong-pass-xyz", "wrong-token-xyz", "wrong-hmac-key-xyz", "reloaded-token"}

var tenantsYAML = `
tenants:
  open: {}
  nets:
    auth:
      networks: [127.0.0.0/8, "::1"]
  v6only:
    auth:
      networks: ["2001:db8::/32"]
  proxied:
    auth:
      networks: [203.0.113.0/24]
      trusted_proxies: [127.0.0.1]
  noproxy:
    auth:
      networks: [203.0.113.0/24]
  basic:
    auth:
      basic:
        - {user: ivr, password: basic-pass-one}
        - {user: ivr2, password: "sha256:` + sha("basic-pass-two") + `"}
  tokhdr:
    auth:
      token: {secrets: [tok-header-secret]}
  tokparam:
    auth:
      token: {param: key, secrets: ["sha256:` + sha("tok-param-secret") + `"]}
  signed:
    auth:
      hmac: {keys: [hmac-key-number-one, hmac-key-number-two]}
  combo:
    auth:
      networks: [127.0.0.1]
      basic: [{user: c, password: combo-pass}]
      token: {header: X-Combo, secrets: [combo-token]}
`

// syncBuf is the log's destination.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// records are the log's lines with this message.
func (s *syncBuf) records(msg string) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(s.String()))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

type testServer struct {
	url  string // http://127.0.0.1:port
	dir  string
	logs *syncBuf
	eng  *engine.Engine
	reg  *tenant.Registry
	srv  *server.Server
}

// start runs a real engine and server, wired as dialua serve wires them, on
// 127.0.0.1, with one script per tenant of tenantsYAML.
func start(t *testing.T) *testServer {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"open", "nets", "v6only", "proxied", "noproxy", "basic", "tokhdr", "tokparam", "signed", "combo"} {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "main.lua"), []byte(`response:set_var("ran", request.tenant)`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "tenants.yaml"), []byte(tenantsYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuf{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg, err := tenant.NewRegistry(filepath.Join(dir, "tenants.yaml"), log)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{ScriptsDir: dir, Tenants: reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Config{Engine: eng, Logger: log, Auth: auth.New(reg, auth.Options{})})
	ts := &testServer{dir: dir, logs: logs, eng: eng, reg: reg, srv: srv}
	ts.url = ts.listen(t, "127.0.0.1:0")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		eng.Close()
		out := logs.String()
		for _, s := range secrets {
			for _, form := range []string{s, base64.StdEncoding.EncodeToString([]byte(s)), base64.StdEncoding.EncodeToString([]byte("ivr:" + s))} {
				if strings.Contains(out, form) {
					t.Errorf("the log holds a secret (%q)", form)
				}
			}
		}
	})
	return ts
}

func (ts *testServer) listen(t *testing.T, addr string) string {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("listen %s: %v", addr, err)
	}
	go ts.srv.Serve(ln)
	return "http://" + ln.Addr().String()
}

type reply struct {
	status int
	header http.Header
	body   string
}

var client = &http.Client{Timeout: 5 * time.Second}

// do sends a request; url is absolute, or a path on ts.
func (ts *testServer) do(t *testing.T, method, url string, hdr map[string]string, body string) reply {
	t.Helper()
	if strings.HasPrefix(url, "/") {
		url = ts.url + url
	}
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, string(b)}
}

func (ts *testServer) get(t *testing.T, url string, hdr map[string]string) reply {
	t.Helper()
	return ts.do(t, "GET", url, hdr, "")
}

// ran: the script ran for tenant.
func (r reply) ran(t *testing.T, tenant string) {
	t.Helper()
	if r.status != 200 || !strings.Contains(r.body, `"ran"`) || !strings.Contains(r.body, tenant) {
		t.Errorf("want the script's answer, got %d %q", r.status, r.body)
	}
}

// refused: the request was refused with status and an empty Response.
func (r reply) refused(t *testing.T, status int) {
	t.Helper()
	if r.status != status || r.body != protocol.Empty || r.header.Get("Content-Type") != protocol.ContentType {
		t.Errorf("want %d with an empty Response, got %d %q %q", status, r.status, r.header.Get("Content-Type"), r.body)
	}
	challenge := r.header.Get("WWW-Authenticate")
	if status != 401 && challenge != "" {
		t.Errorf("%d with WWW-Authenticate %q", status, challenge)
	}
}

func (r reply) challenged(t *testing.T) {
	t.Helper()
	r.refused(t, 401)
	if got := r.header.Get("WWW-Authenticate"); got != `Basic realm="dialua"` {
		t.Errorf("WWW-Authenticate %q", got)
	}
}

func basicHdr(user, pass string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}
}

// TestNoAuthUnaffected: a tenant without auth, and a tenant the file does
// not list, answer as before.
func TestNoAuthUnaffected(t *testing.T) {
	ts := start(t)
	ts.get(t, "/open/main", nil).ran(t, "open")
	ts.do(t, "POST", "/open/main", basicHdr("ivr", "basic-pass-one"), "CallID=1").ran(t, "open")
	ts.get(t, "/nosuch/main", nil).refused(t, 404)
	if r := ts.logs.records("request refused"); len(r) != 0 {
		t.Errorf("refusals logged: %v", r)
	}
}

// TestNetworks: the source address must be in the tenant's networks;
// X-Forwarded-For counts only from a trusted proxy.
func TestNetworks(t *testing.T) {
	ts := start(t)
	ts.get(t, "/nets/main", nil).ran(t, "nets")
	ts.get(t, "/v6only/main", nil).refused(t, 403)
	ts.get(t, "/v6only/main", map[string]string{"X-Forwarded-For": "2001:db8::1"}).refused(t, 403) // not trusted

	// 127.0.0.1 is a trusted proxy of "proxied": its X-Forwarded-For names
	// the client.
	ts.get(t, "/proxied/main", nil).refused(t, 403)
	ts.get(t, "/proxied/main", map[string]string{"X-Forwarded-For": "203.0.113.7"}).ran(t, "proxied")
	ts.get(t, "/proxied/main", map[string]string{"X-Forwarded-For": "198.51.100.1"}).refused(t, 403)
	ts.get(t, "/proxied/main", map[string]string{"X-Forwarded-For": "203.0.113.7, 198.51.100.1"}).refused(t, 403) // client-written left part
	ts.get(t, "/proxied/main", map[string]string{"X-Forwarded-For": "garbage"}).refused(t, 403)
	ts.get(t, "/noproxy/main", map[string]string{"X-Forwarded-For": "203.0.113.7"}).refused(t, 403)

	rec := ts.logs.records("request refused")
	if len(rec) != 7 {
		t.Fatalf("%d refusals logged, want 7: %v", len(rec), rec)
	}
	r := rec[0]
	if r["level"] != "WARN" || r["tenant"] != "v6only" || !strings.HasPrefix(r["remote"].(string), "127.0.0.1:") ||
		r["reason"] != "source address not in the tenant's networks" || r["status"] != float64(403) {
		t.Errorf("log line: %v", r)
	}
	if rec[3]["client"] != "198.51.100.1" {
		t.Errorf("the client address from X-Forwarded-For is not logged: %v", rec[3])
	}

	// IPv6, when the host has it.
	v6 := ts.listen(t, "[::1]:0")
	ts.get(t, v6+"/nets/main", nil).ran(t, "nets")
	ts.get(t, v6+"/v6only/main", nil).refused(t, 403)
	ts.get(t, v6+"/proxied/main", nil).refused(t, 403)
}

// TestBasic: the right user and password, from a header or the URL; wrong,
// missing and malformed ones get 401 with a challenge.
func TestBasic(t *testing.T) {
	ts := start(t)
	ts.get(t, "/basic/main", basicHdr("ivr", "basic-pass-one")).ran(t, "basic")
	ts.get(t, "/basic/main", basicHdr("ivr2", "basic-pass-two")).ran(t, "basic") // stored as sha256:
	// The IVR's URL carries user:password.
	ts.get(t, strings.Replace(ts.url, "http://", "http://ivr:basic-pass-one@", 1)+"/basic/main", nil).ran(t, "basic")
	ts.do(t, "POST", strings.Replace(ts.url, "http://", "http://ivr2:basic-pass-two@", 1)+"/basic/main", nil, "CallID=9").ran(t, "basic")

	ts.get(t, "/basic/main", nil).challenged(t)
	ts.get(t, "/basic/main", basicHdr("ivr", "wrong-pass-xyz")).challenged(t)
	ts.get(t, "/basic/main", basicHdr("ivr2", "basic-pass-one")).challenged(t) // another user's password
	ts.get(t, "/basic/main", basicHdr("nobody", "basic-pass-one")).challenged(t)
	ts.get(t, "/basic/main", basicHdr("ivr", "")).challenged(t)
	ts.get(t, "/basic/main", map[string]string{"Authorization": "Bearer basic-pass-one"}).challenged(t)
	ts.get(t, "/basic/main", map[string]string{"Authorization": "Basic !!!"}).challenged(t)

	rec := ts.logs.records("request refused")
	if len(rec) != 7 || rec[1]["reason"] != "wrong basic credentials" || rec[1]["tenant"] != "basic" || rec[1]["status"] != float64(401) {
		t.Errorf("log lines: %v", rec)
	}
}

// TestToken: a token in its header, or in its parameter (query or form).
func TestToken(t *testing.T) {
	ts := start(t)
	ts.get(t, "/tokhdr/main", map[string]string{"X-Dialua-Token": "tok-header-secret"}).ran(t, "tokhdr")
	ts.get(t, "/tokhdr/main", map[string]string{"x-dialua-token": "tok-header-secret"}).ran(t, "tokhdr")
	ts.get(t, "/tokhdr/main", nil).refused(t, 401)
	ts.get(t, "/tokhdr/main", map[string]string{"X-Dialua-Token": "wrong-token-xyz"}).refused(t, 401)
	ts.get(t, "/tokhdr/main", map[string]string{"X-Dialua-Token": "tok-header-secret-and-more"}).refused(t, 401)
	ts.get(t, "/tokhdr/main?X-Dialua-Token=tok-header-secret", nil).refused(t, 401) // a header, not a parameter

	ts.get(t, "/tokparam/main?key=tok-param-secret", nil).ran(t, "tokparam")
	ts.do(t, "POST", "/tokparam/main", nil, "CallID=1&key=tok-param-secret").ran(t, "tokparam")
	ts.get(t, "/tokparam/main", nil).refused(t, 401)
	ts.get(t, "/tokparam/main?key=wrong-token-xyz", nil).refused(t, 401)
	ts.get(t, "/tokparam/main?key=wrong-token-xyz&key=tok-param-secret", nil).refused(t, 401) // sent twice
	ts.get(t, "/tokparam/main", map[string]string{"key": "tok-param-secret"}).refused(t, 401)

	for _, r := range ts.logs.records("request refused") {
		if !strings.HasPrefix(r["tenant"].(string), "tok") || r["reason"] == "" || !strings.HasPrefix(r["remote"].(string), "127.0.0.1:") {
			t.Errorf("log line: %v", r)
		}
	}
}

// TestCrossTenant: a tenant's credentials do not open another tenant.
func TestCrossTenant(t *testing.T) {
	ts := start(t)
	ts.get(t, "/tokhdr/main", map[string]string{"X-Dialua-Token": "combo-token"}).refused(t, 401)
	ts.get(t, "/tokparam/main?key=tok-header-secret", nil).refused(t, 401)
	ts.get(t, "/basic/main", basicHdr("c", "combo-pass")).challenged(t)
	ts.get(t, "/combo/main", map[string]string{"Authorization": basicHdr("ivr", "basic-pass-one")["Authorization"], "X-Combo": "tok-header-secret"}).challenged(t)
	r := signedReq("hmac-key-number-one", "GET", "/combo/main", "", "", time.Now())
	ts.get(t, "/combo/main", r).challenged(t)
}

// TestCombined: every configured check must pass.
func TestCombined(t *testing.T) {
	ts := start(t)
	both := basicHdr("c", "combo-pass")
	both["X-Combo"] = "combo-token"
	ts.get(t, "/combo/main", both).ran(t, "combo")
	ts.get(t, "/combo/main", basicHdr("c", "combo-pass")).challenged(t) // no token
	ts.get(t, "/combo/main", map[string]string{"X-Combo": "combo-token"}).challenged(t)
	both["X-Combo"] = "wrong-token-xyz"
	ts.get(t, "/combo/main", both).challenged(t)
	// From ::1, right credentials are not enough.
	v6 := ts.listen(t, "[::1]:0")
	both["X-Combo"] = "combo-token"
	ts.get(t, v6+"/combo/main", both).refused(t, 403)
}

// signedReq signs as docs/tenants.md says, independently of auth.Sign.
func signedReq(key, method, path, query, body string, at time.Time) map[string]string {
	ts := strconv.FormatInt(at.Unix(), 10)
	m := hmac.New(sha256.New, []byte(key))
	fmt.Fprintf(m, "%s\n%s\n%s\n%s\n%s", ts, method, path, query, body)
	return map[string]string{"X-Dialua-Timestamp": ts, "X-Dialua-Signature": hex.EncodeToString(m.Sum(nil))}
}

// TestHMAC: a fresh signature by either key passes once; replayed,
// expired, future, tampered, wrongly keyed, malformed and missing ones are
// refused.
func TestHMAC(t *testing.T) {
	ts := start(t)
	now := time.Now()
	body := "CallID=abc&Digits=1"
	h := signedReq("hmac-key-number-one", "POST", "/signed/main", "x=1", body, now)
	ts.do(t, "POST", "/signed/main?x=1", h, body).ran(t, "signed")
	ts.do(t, "POST", "/signed/main?x=1", h, body).refused(t, 403) // replayed
	ts.get(t, "/signed/main", signedReq("hmac-key-number-two", "GET", "/signed/main", "", "", now)).ran(t, "signed")
	ts.get(t, "/signed/main?CallID=1", signedReq("hmac-key-number-one", "GET", "/signed/main", "CallID=1", "", now.Add(-4*time.Minute))).ran(t, "signed")

	ts.get(t, "/signed/main", signedReq("hmac-key-number-one", "GET", "/signed/main", "", "", now.Add(-6*time.Minute))).refused(t, 403) // expired
	ts.get(t, "/signed/main", signedReq("hmac-key-number-one", "GET", "/signed/main", "", "", now.Add(6*time.Minute))).refused(t, 403)  // from the future
	ts.get(t, "/signed/main", signedReq("wrong-hmac-key-xyz", "GET", "/signed/main", "", "", now)).refused(t, 403)
	h = signedReq("hmac-key-number-one", "POST", "/signed/main", "x=1", body, now.Add(time.Second))
	ts.do(t, "POST", "/signed/main?x=1", h, body+"&Digits=2").refused(t, 403) // body changed
	ts.do(t, "POST", "/signed/main?x=2", h, body).refused(t, 403)             // query changed
	ts.do(t, "POST", "/open/main?x=1", h, body).ran(t, "open")                // another tenant needs none
	ts.do(t, "POST", "/signed/main?x=1", h, body).ran(t, "signed")            // still unused, so fine
	ts.get(t, "/signed/main", map[string]string{"X-Dialua-Signature": h["X-Dialua-Signature"]}).refused(t, 401)
	ts.get(t, "/signed/main", map[string]string{"X-Dialua-Timestamp": h["X-Dialua-Timestamp"]}).refused(t, 401)
	ts.get(t, "/signed/main", nil).refused(t, 401)
	ts.get(t, "/signed/main", map[string]string{"X-Dialua-Timestamp": "soon", "X-Dialua-Signature": h["X-Dialua-Signature"]}).refused(t, 403)
	ts.get(t, "/signed/main", map[string]string{"X-Dialua-Timestamp": h["X-Dialua-Timestamp"], "X-Dialua-Signature": "abc"}).refused(t, 403)

	reasons := map[string]bool{}
	for _, r := range ts.logs.records("request refused") {
		reasons[r["reason"].(string)] = true
	}
	for _, want := range []string{"signature replayed", "signature timestamp outside the 5-minute window", "bad signature", "no signature", "no signature timestamp"} {
		if !reasons[want] {
			t.Errorf("no refusal logged as %q: %v", want, reasons)
		}
	}
}

// TestHotReload: an edit of the tenants file changes credentials within
// seconds, and the replay memory outlives the reload.
func TestHotReload(t *testing.T) {
	ts := start(t)
	sig := signedReq("hmac-key-number-one", "GET", "/signed/main", "", "", time.Now())
	ts.get(t, "/signed/main", sig).ran(t, "signed")
	edited := strings.Replace(tenantsYAML, "token: {secrets: [tok-header-secret]}", "token: {secrets: [reloaded-token]}", 1)
	if err := os.WriteFile(filepath.Join(ts.dir, "tenants.yaml"), []byte(edited+"\n  later: {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for ts.get(t, "/tokhdr/main", map[string]string{"X-Dialua-Token": "reloaded-token"}).status != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the edited token not accepted after 5s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	ts.get(t, "/tokhdr/main", map[string]string{"X-Dialua-Token": "tok-header-secret"}).refused(t, 401)
	ts.get(t, "/signed/main", sig).refused(t, 403)

	// A broken edit keeps the last good version.
	if err := os.WriteFile(filepath.Join(ts.dir, "tenants.yaml"), []byte("tenants:\n  tokhdr:\n    auth: {networks: [10.0.0.0/33]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(5 * time.Second)
	for len(ts.logs.records("tenants file does not parse; the previous version stays in force")) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the broken edit was not reported")
		}
		ts.get(t, "/open/main", nil)
		time.Sleep(100 * time.Millisecond)
	}
	if msg := ts.logs.records("tenants file does not parse; the previous version stays in force")[0]["error"].(string); !strings.Contains(msg, "tenant tokhdr: auth.networks") {
		t.Errorf("parse error: %s", msg)
	}
	ts.get(t, "/tokhdr/main", map[string]string{"X-Dialua-Token": "reloaded-token"}).ran(t, "tokhdr")
}

// TestOpenSSLExample runs the signing snippet of docs/tenants.md, with
// openssl and curl, against a server with the doc's key.
func TestOpenSSLExample(t *testing.T) {
	for _, tool := range []string{"sh", "openssl", "curl", "awk"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s", tool)
		}
	}
	doc, err := os.ReadFile("../../docs/tenants.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)Signing with openssl.*?```sh\n(.*?)```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("no openssl snippet in docs/tenants.md")
	}
	snippet := string(m[1])
	key := regexp.MustCompile(`(?m)^key='([^']*)'`).FindStringSubmatch(snippet)
	if key == nil {
		t.Fatal("the snippet sets no key")
	}
	ts := start(t)
	edited := strings.Replace(tenantsYAML, "hmac: {keys: [hmac-key-number-one, hmac-key-number-two]}", "hmac: {keys: ['"+key[1]+"']}", 1)
	edited = strings.Replace(edited, "  signed:\n", "  umbrella:\n", 1)
	if err := os.MkdirAll(filepath.Join(ts.dir, "umbrella"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ts.dir, "umbrella", "main.lua"), []byte(`response:set_var("ran", request.params.Digits .. request.params.CallID)`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ts.dir, "tenants.yaml"), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func() string {
		out, err := exec.Command("sh", "-c", strings.ReplaceAll(snippet, "http://127.0.0.1:8080", ts.url)).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return string(out)
	}
	deadline := time.Now().Add(5 * time.Second)
	var out string
	for out = run(); !strings.Contains(out, "14711"); out = run() {
		if time.Now().After(deadline) {
			t.Fatalf("the documented snippet is refused: %q", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
