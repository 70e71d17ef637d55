package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/testkit"
)

// slowScript compiles in a noticeable time (thousands of distinct
// constants) and answers with one variable.
func slowScript(n int) string {
	var b strings.Builder
	b.WriteString("local t = {")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%q,", fmt.Sprint("c", i))
	}
	b.WriteString("}\nresponse:set_var('n', tostring(#t))\n")
	return b.String()
}

// compiled counts the compiles of one tenant's script, from the debug log.
func compiled(ts *testServer, tenant, script string) int {
	n := 0
	for _, r := range ts.logs.Records("script compiled") {
		if r["tenant"] == tenant && r["script"] == script {
			n++
		}
	}
	return n
}

// Concurrent first requests for one script share one compile.
func TestConcurrentFirstRequestsCompileOnce(t *testing.T) {
	dir := testkit.Scripts(t, map[string]string{"acme/slow.lua": slowScript(6000)})
	ts := start(t, dir, engine.Options{Timeout: 5 * time.Second})
	const n = 16
	var wg sync.WaitGroup
	got := make([]answer, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = ts.get("/acme/slow")
		}()
	}
	wg.Wait()
	for _, a := range got {
		if v := testkit.Vars(a.verbs(t)); v["n"] != "6000" {
			t.Fatalf("answer %v", v)
		}
	}
	if c := compiled(ts, "acme", "slow"); c != 1 {
		t.Errorf("%d concurrent first requests compiled the file %d times, want once", n, c)
	}

	// A change is compiled once too, however many requests come meanwhile.
	testkit.WriteFile(t, filepath.Join(dir, "acme/slow.lua"), slowScript(6001))
	deadline := time.Now().Add(5 * time.Second)
	for testkit.Vars(ts.get("/acme/slow").verbs(t))["n"] != "6001" {
		if time.Now().After(deadline) {
			t.Fatal("change not picked up")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if c := compiled(ts, "acme", "slow"); c > 3 {
		t.Errorf("one change compiled %d times", c-1)
	}
}

// bigScript is a script whose compiled form is large (about 12 bytes of
// code and line information per item) but cheap to compile.
func bigScript(items int, tag string) string {
	return "local t = {" + strings.Repeat("true,", items) + "}\nresponse:set_var('tag', '" + tag + "')\n"
}

// A tenant loading many large scripts evicts its own, never another
// tenant's.
func TestCacheTenantShare(t *testing.T) {
	files := map[string]string{}
	for i := range 3 {
		files[fmt.Sprintf("quiet/s%d.lua", i)] = fmt.Sprintf("response:set_var('s', '%d')\n", i)
	}
	for i := range 30 {
		files[fmt.Sprintf("hog/big%d.lua", i)] = bigScript(40000, fmt.Sprint(i)) // about 0.5 MB compiled
	}
	dir := testkit.Scripts(t, files)
	ts := start(t, dir, engine.Options{MaxTenantCacheBytes: 2 << 20, MaxCacheBytes: 4 << 20})
	for i := range 3 {
		ts.get(fmt.Sprintf("/quiet/s%d", i)).verbs(t)
	}
	for round := range 2 {
		for i := range 30 {
			if v := testkit.Vars(ts.get(fmt.Sprintf("/hog/big%d", i)).verbs(t)); v["tag"] != fmt.Sprint(i) {
				t.Fatalf("round %d: big%d answered %v", round, i, v)
			}
		}
	}
	// The hog's share holds a few of its scripts: the second round
	// compiled them again.
	if c := compiled(ts, "hog", "big0"); c != 2 {
		t.Errorf("hog/big0 compiled %d times, want 2 (evicted from its own share)", c)
	}
	for i := range 3 {
		ts.get(fmt.Sprintf("/quiet/s%d", i)).verbs(t)
		if c := compiled(ts, "quiet", fmt.Sprintf("s%d", i)); c != 1 {
			t.Errorf("quiet/s%d compiled %d times: another tenant's loads evicted it", i, c)
		}
	}
	// Every compile's size was logged: the hog's scripts are as large as
	// the test means them to be.
	for _, r := range ts.logs.Records("script compiled") {
		if r["tenant"] == "hog" {
			if b, _ := r["bytes"].(float64); b < 400_000 || b > 2<<20 {
				t.Errorf("hog script estimated at %v bytes", b)
			}
			break
		}
	}
}

// A hard link in a tenant's folder could be another tenant's file: it is
// answered as missing, for scripts and modules, with a warning.
func TestHardLinkRefused(t *testing.T) {
	dir := testkit.Scripts(t, map[string]string{
		"victim/lib/secret.lua": "return {key = 'victim-secret'}\n",
		"victim/own.lua":        "response:set_var('own', 'yes')\n",
		"thief/ok.lua":          "response:set_var('ok', require('util').v)\n",
		"thief/lib/util.lua":    "return {v = 'fine'}\n",
		"thief/uses.lua":        "response:set_var('k', require('stolen').key)\n",
	})
	ts := start(t, dir, engine.Options{})
	// A normal single-link file and module work.
	if v := testkit.Vars(ts.get("/thief/ok").verbs(t)); v["ok"] != "fine" {
		t.Fatalf("single-link script and module: %v", v)
	}
	secret := filepath.Join(dir, "victim/lib/secret.lua")
	for _, link := range []string{"thief/stolen.lua", "thief/lib/stolen.lua"} {
		if err := os.Link(secret, filepath.Join(dir, link)); err != nil {
			t.Skipf("hard links unsupported here: %v", err)
		}
	}
	a := ts.get("/thief/stolen")
	a.wantEmptyError(t, 404)
	if strings.Contains(a.body, "victim-secret") {
		t.Fatal("linked file's content served")
	}
	ts.get("/thief/uses").wantEmptyError(t, 500)
	failed := ts.logs.Records("script failed")
	if len(failed) == 0 || !strings.Contains(fmt.Sprint(failed[len(failed)-1]["error"]), `module "stolen" not found`) {
		t.Errorf("require of a hard link: %v", failed)
	}
	warned := map[string]bool{}
	for _, r := range ts.logs.Records("script file has more than one hard link (it may be another tenant's file); refused as missing") {
		if r["tenant"] == "thief" {
			warned[fmt.Sprint(r["file"])] = true
		}
	}
	if !warned["thief/stolen.lua"] || !warned["thief/lib/stolen.lua"] {
		t.Errorf("warnings name %v", warned)
	}
	// Other files of both tenants still work.
	if v := testkit.Vars(ts.get("/victim/own").verbs(t)); v["own"] != "yes" {
		t.Errorf("victim's own script: %v", v)
	}
	if v := testkit.Vars(ts.get("/thief/ok").verbs(t)); v["ok"] != "fine" {
		t.Errorf("thief's single-link script: %v", v)
	}
}

// A file that exists but cannot be read is a logged server error, not a
// silent 404.
func TestUnreadableScriptIsAnError(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads files whatever their mode")
	}
	dir := testkit.Scripts(t, map[string]string{"acme/locked.lua": "response:set_var('x', '1')\n"})
	if err := os.Chmod(filepath.Join(dir, "acme/locked.lua"), 0); err != nil {
		t.Fatal(err)
	}
	ts := start(t, dir, engine.Options{})
	ts.get("/acme/locked").wantEmptyError(t, 500)
	failed := ts.logs.Records("script failed")
	if len(failed) != 1 || !strings.Contains(fmt.Sprint(failed[0]["error"]), "cannot read the file") {
		t.Errorf("log: %v", failed)
	}
}

// A file over the compile limits is refused with its line, like any
// compile error, and does not hold up other requests for long.
func TestCompileLimitRefused(t *testing.T) {
	var b strings.Builder
	b.WriteString("local t = {\n")
	for i := range 9000 {
		fmt.Fprintf(&b, "%q,\n", fmt.Sprint("c", i))
	}
	b.WriteString("}\n")
	dir := testkit.Scripts(t, map[string]string{"acme/huge.lua": b.String(), "acme/ok.lua": "response:set_var('ok', '1')\n"})
	ts := start(t, dir, engine.Options{})
	start := time.Now()
	ts.get("/acme/huge").wantEmptyError(t, 500)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("refusal took %v", took)
	}
	failed := ts.logs.Records("script failed")
	if len(failed) != 1 || failed[0]["location"] != "acme/huge.lua:8002" ||
		!strings.Contains(fmt.Sprint(failed[0]["error"]), "more than 8000 distinct constants") {
		t.Errorf("log: %v", failed)
	}
	if v := testkit.Vars(ts.get("/acme/ok").verbs(t)); v["ok"] != "1" {
		t.Errorf("ok: %v", v)
	}
}
