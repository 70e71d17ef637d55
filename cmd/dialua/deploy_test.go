package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	cliOperatorToken = "cli-operator-token-0123456789"
	cliAcmeToken     = "cli-acme-deploy-token"
)

// adminServe starts "dialua serve" with the admin API on a free port, an
// operator token file, acme's deploy token in the tenants file and a data
// dir of its own. It returns the process and the admin URL.
func adminServe(t *testing.T, data string) (*serveProc, string) {
	t.Helper()
	root := t.TempDir()
	sum := sha256.Sum256([]byte(cliAcmeToken))
	writeFiles(t, root, map[string]string{
		"acme/ivr.lua": "response:set_var(\"v\", \"folder\")\n",
		"beta/ivr.lua": "response:set_var(\"v\", \"beta\")\n",
		"tenants.yaml": "tenants:\n  acme:\n    deploy_tokens: [\"sha256:" + hex.EncodeToString(sum[:]) + "\"]\n",
	})
	tokFile := filepath.Join(t.TempDir(), "admin-token")
	if err := os.WriteFile(tokFile, []byte(cliOperatorToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	adminAddr := freePort(t)
	s := startServe(t, "--scripts", root, "--admin", adminAddr, "--admin-token-file", tokFile, "--data", data)
	base := "http://" + adminAddr
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("admin API not ready: %v; output:\n%s", err, s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s, base
}

// ivrVar runs tenant/ivr over the Call Interactive port and returns its
// "v" variable.
func ivrVar(t *testing.T, s *serveProc, tenant string) string {
	t.Helper()
	resp, err := newClient().Get(s.base + "/" + tenant + "/ivr")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s/ivr: %d %s", tenant, resp.StatusCode, b)
	}
	body := string(b)
	i := strings.Index(body, `<SetVar name="v">`)
	j := strings.Index(body, `</SetVar>`)
	if i < 0 || j < i {
		t.Fatalf("%s/ivr: no v in %s", tenant, body)
	}
	return body[i+len(`<SetVar name="v">`) : j]
}

func treeDir(t *testing.T, tag string, extra map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "acme")
	files := map[string]string{
		"ivr.lua":      "local u = require(\"util\")\nresponse:set_var(\"v\", u.v)\n",
		"lib/util.lua": fmt.Sprintf("return { v = %q }\n", tag),
		".git/x.lua":   "this is skipped",
	}
	for k, v := range extra {
		files[k] = v
	}
	writeFiles(t, dir, files)
	return dir
}

// TestDeployCLI: dialua deploy, releases and rollback against a real
// server: a deploy serves at once; a broken tree exits 1 with each
// file:line on stderr and the old release keeps serving; the token comes
// from --token or DIALUA_TOKEN; a tenant's token is for its tenant only.
func TestDeployCLI(t *testing.T) {
	data := t.TempDir()
	s, admin := adminServe(t, data)
	if got := ivrVar(t, s, "acme"); got != "folder" {
		t.Fatalf("before a deploy acme answers %q", got)
	}

	// DIR first, flags after; the token as a flag.
	v1dir := treeDir(t, "one", nil)
	r := runDialua(t, ".", "deploy", v1dir, "--tenant", "acme", "--admin", admin, "--token", cliOperatorToken, "--message", "first")
	if r.code != 0 {
		t.Fatalf("deploy: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	v1 := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(v1, "1-") || len(v1) != 10 || strings.Contains(r.stdout+r.stderr, cliOperatorToken) {
		t.Fatalf("deploy printed %q / %q", r.stdout, r.stderr)
	}
	if got := ivrVar(t, s, "acme"); got != "one" {
		t.Fatalf("after deploying acme answers %q", got)
	}

	// The token from DIALUA_TOKEN, a tenant deploy token.
	t.Setenv("DIALUA_TOKEN", cliAcmeToken)
	broken := treeDir(t, "two", map[string]string{
		"bad.lua":       "local a = 1\nlocal b = 2\nlocal c = = 3\n",
		"lib/worse.lua": "return {\nif then\n",
	})
	r = runDialua(t, ".", "deploy", "--tenant", "acme", "--admin", admin, broken)
	if r.code != 1 {
		t.Fatalf("broken deploy: exit %d, want 1\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("broken deploy printed %q on stdout", r.stdout)
	}
	errLines := lines(r.stderr)
	want := []string{filepath.Join(broken, "bad.lua") + ":3: ", filepath.Join(broken, "lib/worse.lua") + ":2: "}
	if len(errLines) != 3 || !strings.HasPrefix(errLines[0], want[0]) || !strings.HasPrefix(errLines[1], want[1]) || !strings.Contains(errLines[2], "refused") {
		t.Fatalf("broken deploy stderr, want lines starting %q:\n%s", want, r.stderr)
	}
	if got := ivrVar(t, s, "acme"); got != "one" {
		t.Fatalf("after a refused deploy acme answers %q", got)
	}

	v2dir := treeDir(t, "two", nil)
	r = runDialua(t, ".", "deploy", v2dir, "--tenant", "acme", "--admin", admin, "--message", "second")
	if r.code != 0 {
		t.Fatalf("deploy v2: exit %d: %s", r.code, r.stderr)
	}
	v2 := strings.TrimSpace(r.stdout)
	if got := ivrVar(t, s, "acme"); got != "two" {
		t.Fatalf("after deploying v2 acme answers %q", got)
	}
	// Stored only, then on canary.
	r = runDialua(t, ".", "deploy", treeDir(t, "three", nil), "--tenant", "acme", "--admin", admin, "--no-activate")
	if r.code != 0 || !strings.Contains(r.stderr, "not active") {
		t.Fatalf("deploy --no-activate: exit %d: %s", r.code, r.stderr)
	}
	if got := ivrVar(t, s, "acme"); got != "two" {
		t.Fatalf("after --no-activate acme answers %q", got)
	}
	r = runDialua(t, ".", "deploy", treeDir(t, "four", nil), "--tenant", "acme", "--admin", admin, "--canary", "20")
	if r.code != 0 || !strings.Contains(r.stderr, "canary for 20%") {
		t.Fatalf("deploy --canary: exit %d: %s", r.code, r.stderr)
	}
	v4 := strings.TrimSpace(r.stdout)

	r = runDialua(t, ".", "releases", "--tenant", "acme", "--admin", admin)
	if r.code != 0 {
		t.Fatalf("releases: exit %d: %s", r.code, r.stderr)
	}
	out := lines(r.stdout)
	if len(out) != 5 || !strings.HasPrefix(out[2], "*") || !strings.Contains(out[2], v2) || !strings.Contains(out[2], "second") ||
		!strings.HasPrefix(out[4], "~20%") || !strings.Contains(out[4], v4) || !strings.Contains(out[1], v1) {
		t.Fatalf("releases:\n%s", r.stdout)
	}
	r = runDialua(t, ".", "releases", "--tenant", "acme", "--admin", admin, "--json")
	var h struct {
		Active   string            `json:"active"`
		Releases []json.RawMessage `json:"releases"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &h) != nil || h.Active != v2 || len(h.Releases) != 4 {
		t.Fatalf("releases --json: exit %d: %s", r.code, r.stdout)
	}

	r = runDialua(t, ".", "rollback", "--tenant", "acme", "--admin", admin)
	if r.code != 0 || strings.TrimSpace(r.stdout) != v1 {
		t.Fatalf("rollback: exit %d, stdout %q: %s", r.code, r.stdout, r.stderr)
	}
	if got := ivrVar(t, s, "acme"); got != "one" {
		t.Fatalf("after rollback acme answers %q", got)
	}
	r = runDialua(t, ".", "rollback", "--tenant", "acme", "--to", v2, "--admin", admin)
	if r.code != 0 || strings.TrimSpace(r.stdout) != v2 {
		t.Fatalf("rollback --to: exit %d, stdout %q: %s", r.code, r.stdout, r.stderr)
	}
	r = runDialua(t, ".", "rollback", "--tenant", "acme", "--to", "9-00000000", "--admin", admin)
	if r.code != 1 || !strings.Contains(r.stderr, "no release") {
		t.Fatalf("rollback to an unknown id: exit %d: %s", r.code, r.stderr)
	}

	// acme's token cannot deploy, list or roll back beta.
	for _, args := range [][]string{
		{"deploy", v1dir, "--tenant", "beta", "--admin", admin},
		{"releases", "--tenant", "beta", "--admin", admin},
		{"rollback", "--tenant", "beta", "--admin", admin},
	} {
		r = runDialua(t, ".", args...)
		if r.code != 1 || !strings.Contains(r.stderr, "not accepted for tenant beta") || !strings.Contains(r.stderr, "403") {
			t.Errorf("%v with acme's token: exit %d: %s", args[0], r.code, r.stderr)
		}
	}
	if got := ivrVar(t, s, "beta"); got != "beta" {
		t.Fatalf("beta answers %q", got)
	}
	// A wrong token.
	r = runDialua(t, ".", "releases", "--tenant", "acme", "--admin", admin, "--token", "wrong-token-wrong")
	if r.code != 1 || !strings.Contains(r.stderr, "403") {
		t.Errorf("wrong token: exit %d: %s", r.code, r.stderr)
	}
	if strings.Contains(s.stderr.String(), cliAcmeToken) || strings.Contains(s.stderr.String(), cliOperatorToken) {
		t.Error("the server's log holds a token")
	}

	// Stopped and started again without --admin over the same data dir:
	// the releases keep serving.
	s.cmd.Process.Signal(os.Interrupt)
	if code := s.waitExit(t, 15*time.Second); code != 0 {
		t.Fatalf("serve exit %d", code)
	}
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"acme/ivr.lua": "response:set_var(\"v\", \"folder\")\n"})
	s2 := startServe(t, "--scripts", root, "--data", data)
	if got := ivrVar(t, s2, "acme"); got != "two" {
		t.Fatalf("after a restart without --admin acme answers %q", got)
	}
}

// TestDeployCLIUsage: -h prints usage on stdout and exits 0; bad usage
// exits 2 with a message on stderr; an unreachable admin API exits 1.
func TestDeployCLIUsage(t *testing.T) {
	t.Setenv("DIALUA_TOKEN", "")
	t.Setenv("DIALUA_ADMIN_URL", "")
	for _, cmd := range []string{"deploy", "releases", "rollback"} {
		r := runDialua(t, ".", cmd, "-h")
		if r.code != 0 || !strings.HasPrefix(r.stdout, "usage: dialua "+cmd) || r.stderr != "" {
			t.Errorf("%s -h: exit %d, stdout %q, stderr %q", cmd, r.code, r.stdout, r.stderr)
		}
	}
	dir := treeDir(t, "x", nil)
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"deploy", dir, "--admin", "http://127.0.0.1:1", "--token", "t"}, "--tenant is required"},
		{[]string{"deploy", "--tenant", "acme", "--admin", "http://127.0.0.1:1", "--token", "t"}, "give one folder"},
		{[]string{"deploy", dir, "--tenant", "acme", "--token", "t"}, "--admin URL is required"},
		{[]string{"deploy", dir, "--tenant", "acme", "--admin", "http://127.0.0.1:1"}, "DIALUA_TOKEN"},
		{[]string{"deploy", dir, "--tenant", "acme", "--admin", "http://127.0.0.1:1", "--token", "t", "--canary", "100"}, "1 to 99"},
		{[]string{"deploy", dir, "--tenant", "../x", "--admin", "http://127.0.0.1:1", "--token", "t"}, "not a tenant name"},
		{[]string{"releases", "--tenant", "acme", "--admin", "http://127.0.0.1:1", "--token", "t", "extra"}, "unexpected argument"},
		{[]string{"rollback", "--bogus"}, "flag provided but not defined"},
		{[]string{"serve", "--admin-token-file", "/x"}, "needs --admin"},
	} {
		r := runDialua(t, ".", c.args...)
		if r.code != 2 || !strings.Contains(r.stderr, c.msg) {
			t.Errorf("%q: exit %d, want 2 with %q; stderr:\n%s", c.args, r.code, c.msg, r.stderr)
		}
	}
	r := runDialua(t, ".", "releases", "--tenant", "acme", "--admin", "http://"+freePort(t), "--token", "t")
	if r.code != 1 || r.stderr == "" {
		t.Errorf("unreachable admin API: exit %d: %s", r.code, r.stderr)
	}
	r = runDialua(t, ".", "help")
	for _, cmd := range []string{"dialua deploy DIR", "dialua releases", "dialua rollback"} {
		if !strings.Contains(r.stdout, cmd) {
			t.Errorf("help lacks %q", cmd)
		}
	}
}
