package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/testkit"
)

func TestPathSafety(t *testing.T) {
	dir := testkit.Scripts(t, map[string]string{
		"acme/ok.lua":           `response:hangup()`,
		"acme/index.lua":        `response:pause(1)`,
		"acme/sub/index.lua":    `response:pause(2)`,
		"acme/.hidden.lua":      `response:hangup()`,
		"acme/lib/helper.lua":   `response:hangup() return {}`,
		"other/secret.lua":      `response:set_var("secret", "other tenant")`,
		"acme/dir.lua/x.lua":    `response:hangup()`,
		"outside-of-root.lua.x": ``,
	})
	outside := filepath.Join(t.TempDir(), "evil.lua")
	testkit.WriteFile(t, outside, `response:set_var("escaped", "yes")`)
	must(t, os.Symlink(outside, filepath.Join(dir, "acme", "escape.lua")))
	must(t, os.Symlink(filepath.Join(dir, "other", "secret.lua"), filepath.Join(dir, "acme", "peek.lua")))
	must(t, os.Symlink(filepath.Join(dir, "other"), filepath.Join(dir, "acme", "otherdir")))
	must(t, os.Symlink(filepath.Join(dir, "acme", "ok.lua"), filepath.Join(dir, "acme", "alias.lua")))
	must(t, os.Symlink("/etc", filepath.Join(dir, "acme", "etc")))
	s := start(t, dir, engine.Options{})

	cases := []struct {
		path   string
		status int
	}{
		{"/acme/ok", 200},
		{"/acme", 200},
		{"/acme/", 200},
		{"/acme/sub", 200},
		{"/acme/sub/", 200},
		{"/acme/alias", 200},           // a link that stays inside the tenant is fine
		{"/acme/escape", 404},          // a link to a file outside the root
		{"/acme/peek", 404},            // a link into another tenant's folder
		{"/acme/otherdir/secret", 404}, // through a linked folder
		{"/acme/etc/passwd", 404},      // a linked system folder
		{"/acme/ok.lua", 404},          // the extension is not part of the URL
		{"/acme/lib/helper", 404},      // modules are not endpoints
		{"/acme/lib", 404},             //
		{"/acme/nope", 404},            //
		{"/nobody/x", 404},             //
		{"/acme/../other/secret", 400}, // dot-dot
		{"/acme/..", 400},              //
		{"/acme/%2e%2e/other/secret", 400},
		{"/acme/%2E%2E%2Fother%2Fsecret", 400},
		{"/acme/.hidden", 400},
		{"/.acme/ok", 400},
		{"/acme//ok", 400},
		{"/acme/ok/", 200}, // a trailing slash is ignored
		{"/acme/o%6b", 400},
		{"/acme/ok%00", 400},
		{"/acme/..%5cother", 400},
		{"/acme/a\\b", 400},
		{"/acme/caf\xc3\xa9", 400},
		{"/", 400},
		{"//acme/ok", 400},
		{"/" + strings.Repeat("a", 200) + "/x", 400},
	}
	for _, c := range cases {
		if got := rawGet(t, s.base, c.path); got != c.status {
			t.Errorf("GET %q: status %d, want %d", c.path, got, c.status)
		}
	}
	for _, rec := range s.logs.Records("script failed") {
		t.Errorf("a path case ran a script that failed: %v", rec)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestScriptErrorsAreLogged: an operator can find the tenant, script,
// file:line and traceback of a failure in the structured log.
func TestScriptErrorsAreLogged(t *testing.T) {
	s := start(t, testkit.Scripts(t, map[string]string{
		"acme/fails.lua":  "local function check(x)\n  return x.field\nend\nresponse:pause(1)\ncheck(nil)\n",
		"acme/slow.lua":   "local n = 0\nwhile true do n = n + 1 end\n",
		"acme/syntax.lua": "response:hangup(\n",
		"acme/raise.lua":  `error("custom failure")`,
	}), engine.Options{Timeout: 200 * time.Millisecond})
	s.get("/acme/fails?CallID=c1").wantEmptyError(t, 500)
	s.get("/acme/slow").wantEmptyError(t, 500)
	s.get("/acme/syntax").wantEmptyError(t, 500)
	s.get("/acme/raise").wantEmptyError(t, 500)
	recs := s.logs.Records("script failed")
	if len(recs) != 4 {
		t.Fatalf("%d failure records, want 4: %v", len(recs), recs)
	}
	check := func(rec map[string]any, kind, script, loc, msg string) {
		t.Helper()
		if rec["kind"] != kind || rec["tenant"] != "acme" || rec["script"] != script || rec["location"] != loc {
			t.Errorf("record %v: want kind=%s tenant=acme script=%s location=%s", rec, kind, script, loc)
		}
		if m, _ := rec["error"].(string); !strings.Contains(m, msg) {
			t.Errorf("error %q, want %q", m, msg)
		}
	}
	check(recs[0], "runtime", "fails", "acme/fails.lua:2", "attempt to index")
	if tb, _ := recs[0]["traceback"].(string); !strings.Contains(tb, "acme/fails.lua:2") || !strings.Contains(tb, "acme/fails.lua:5") {
		t.Errorf("traceback does not show the call chain: %q", tb)
	}
	if recs[0]["call_id"] != "c1" {
		t.Errorf("call_id = %v", recs[0]["call_id"])
	}
	check(recs[1], "timeout", "slow", "acme/slow.lua:2", "deadline of 200ms")
	check(recs[2], "compile", "syntax", "acme/syntax.lua:2", "")
	check(recs[3], "runtime", "raise", "acme/raise.lua:1", "custom failure")
}
