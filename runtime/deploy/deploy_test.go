package deploy_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/deploy"
	"github.com/dialua/dialua/runtime/engine"
)

var bg = context.Background()

// Upload, activate, roll back, diff, history, remove; the folder serves a
// tenant until it has an active release, and is ignored from then on.
func TestReleaseLifecycle(t *testing.T) {
	e := newEnv(t, map[string]string{
		"acme/ivr.lua":      `response:set_var("script", "folder") response:set_var("lib", require("util").tag)`,
		"acme/lib/util.lua": `return { tag = "folder" }`,
	})
	if got := e.tag("acme", "ivr"); got != "folder" {
		t.Fatalf("before any release: %q", got)
	}
	r1 := e.mustUpload("acme", release("v1"), "first")
	if !regexp.MustCompile(`^1-[0-9a-f]{8}$`).MatchString(r1.ID) || r1.Message != "first" || len(r1.Files) != 3 || r1.Created.IsZero() {
		t.Fatalf("release: %+v", r1)
	}
	if got := e.tag("acme", "ivr"); got != "folder" {
		t.Fatalf("uploaded, not activated: %q", got)
	}
	e.activate("acme", r1.ID)
	if got := e.tag("acme", "ivr"); got != "v1" {
		t.Fatalf("after activate: %q", got)
	}
	if got := e.tag("acme", "menu"); got != "v1" {
		t.Fatalf("folder script (menu/index.lua): %q", got)
	}
	if _, err := e.run("acme", "lib/util"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("lib/ served as a script: %v", err)
	}
	// The folder is ignored for a tenant with an active release.
	os.WriteFile(filepath.Join(e.scripts, "acme", "ivr.lua"), []byte(`response:set_var("script", "changed") response:set_var("lib", "changed")`), 0o644)
	if got := e.tag("acme", "ivr"); got != "v1" {
		t.Fatalf("folder change leaked into a released tenant: %q", got)
	}

	v2 := release("v2")
	delete(v2, "menu/index.lua")
	v2["extra.lua"] = `response:set_var("script", "x") response:set_var("lib", "x")`
	r2 := e.mustUpload("acme", v2, "")
	if !strings.HasPrefix(r2.ID, "2-") || r2.Hash == r1.Hash {
		t.Fatalf("second release: %+v", r2)
	}
	d, err := deploy.DiffReleases(bg, e.store, "acme", r1.ID, r2.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Added, []string{"extra.lua"}) || !slices.Equal(d.Removed, []string{"menu/index.lua"}) ||
		!slices.Equal(d.Changed, []string{"ivr.lua", "lib/util.lua"}) {
		t.Fatalf("diff: %+v", d)
	}
	e.activate("acme", r2.ID)
	if got := e.tag("acme", "ivr"); got != "v2" {
		t.Fatalf("v2: %q", got)
	}
	if _, err := e.run("acme", "menu"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("a file v2 removed is still served: %v", err)
	}
	back, err := deploy.Rollback(bg, e.store, "acme", "")
	if err != nil || back.ID != r1.ID {
		t.Fatalf("rollback: %v %v", back.ID, err)
	}
	if got := e.tag("acme", "ivr"); got != "v1" {
		t.Fatalf("after rollback: %q", got)
	}
	if _, err := deploy.Rollback(bg, e.store, "acme", ""); !errors.Is(err, deploy.ErrNoRelease) {
		t.Fatalf("rollback past the first release: %v", err)
	}
	if _, err := deploy.Rollback(bg, e.store, "acme", r2.ID); err != nil {
		t.Fatal(err)
	}
	if got := e.tag("acme", "ivr"); got != "v2" {
		t.Fatalf("rollback to a given id: %q", got)
	}
	h, err := deploy.GetHistory(bg, e.store, "acme")
	if err != nil || h.Active != r2.ID || len(h.Releases) != 2 || h.Releases[0].ID != r1.ID {
		t.Fatalf("history: %+v %v", h, err)
	}
	for _, bad := range []string{"../x", "1-zzzzzzzz", "01-0000000a", ""} {
		if err := e.store.Activate(bg, "acme", bad); !errors.Is(err, deploy.ErrBadName) {
			t.Errorf("activate %q: %v", bad, err)
		}
	}
	if err := e.store.Activate(bg, "acme", "9-00000000"); !errors.Is(err, deploy.ErrNoRelease) {
		t.Errorf("activate a missing release: %v", err)
	}
	if err := e.store.RemoveTenant(bg, "acme"); err != nil {
		t.Fatal(err)
	}
	// The folder source re-checks a file every half second when not
	// watching.
	deadline := time.Now().Add(3 * time.Second)
	for got := e.tag("acme", "ivr"); got != "changed"; got = e.tag("acme", "ivr") {
		if time.Now().After(deadline) {
			t.Fatalf("after remove, the folder serves again: %q", got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ts, _ := e.store.Tenants(bg); len(ts) != 0 {
		t.Fatalf("tenants after remove: %v", ts)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.data, "releases", "tenants")); len(ents) != 0 {
		t.Fatalf("files left after remove: %v", ents)
	}
}

// A release with files that do not compile is refused whole, with every
// error as tenant/path.lua:LINE: message, and the old release serves on.
func TestBrokenReleaseRejected(t *testing.T) {
	e := newEnv(t, nil)
	r1 := e.mustUpload("acme", release("v1"), "")
	e.activate("acme", r1.ID)
	bad := release("v2")
	bad["ivr.lua"] = "response:set_var(\"script\", \"v2\")\nlocal x = = 1\n"
	bad["lib/util.lua"] = "return {\n"
	bad["fine.lua"] = "return 1\n"
	_, err := e.upload("acme", bad, "broken")
	var ce *deploy.CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("broken release: %v", err)
	}
	lines := ce.Lines()
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "acme/ivr.lua:2: ") || !strings.HasPrefix(lines[1], "acme/lib/util.lua:2: ") {
		t.Fatalf("errors: %q", lines)
	}
	if !strings.Contains(err.Error(), "acme/ivr.lua:2:") {
		t.Fatalf("message: %s", err)
	}
	rs, _ := e.store.Releases(bg, "acme")
	if len(rs) != 1 {
		t.Fatalf("a broken release was stored: %d releases", len(rs))
	}
	if got := e.tag("acme", "ivr"); got != "v1" {
		t.Fatalf("old release: %q", got)
	}
	// The compile limits hold too.
	var b strings.Builder
	b.WriteString("return {\n")
	for i := range 9000 {
		b.WriteString("\"c" + itoa(i) + "\",\n")
	}
	b.WriteString("}\n")
	huge := release("v3")
	huge["lib/big.lua"] = b.String()
	if _, err := e.upload("acme", huge, ""); !errors.As(err, &ce) || !strings.Contains(err.Error(), "acme/lib/big.lua:") {
		t.Fatalf("compile limits: %v", err)
	}
}

// A call started on v1 finishes on v1, its hangup included, after v2 went
// live; new calls and requests without a CallID get v2.
func TestPinning(t *testing.T) {
	e := newEnv(t, nil)
	r1 := e.mustUpload("acme", release("v1"), "")
	e.activate("acme", r1.ID)
	if got := e.tag("acme", "ivr", "CallID", "A", "CallStatus", "CALLING"); got != "v1" {
		t.Fatal(got)
	}
	r2 := e.mustUpload("acme", release("v2"), "")
	e.activate("acme", r2.ID)
	if got := e.tag("acme", "ivr", "CallID", "A"); got != "v1" {
		t.Fatalf("pinned call after v2: %q", got)
	}
	if got := e.tag("acme", "menu", "CallID", "A"); got != "v1" {
		t.Fatalf("pinned call, another script: %q", got)
	}
	if got := e.tag("acme", "ivr", "CallID", "B"); got != "v2" {
		t.Fatalf("new call: %q", got)
	}
	if got := e.tag("acme", "ivr"); got != "v2" {
		t.Fatalf("no CallID: %q", got)
	}
	if got := e.tag("acme", "ivr", "CallID", "A", "EventType", "Hangup"); got != "v1" {
		t.Fatalf("hangup of the pinned call: %q", got)
	}
	// The hangup removed the pin: that CallID is a new call now.
	if got := e.tag("acme", "ivr", "CallID", "A"); got != "v2" {
		t.Fatalf("after hangup: %q", got)
	}
	// Another tenant's call with the same CallID is its own call.
	r := e.mustUpload("beta", release("b1"), "")
	e.activate("beta", r.ID)
	if got := e.tag("beta", "ivr", "CallID", "B"); got != "b1" {
		t.Fatalf("other tenant: %q", got)
	}
	// A pinned release that is gone gives way to the live one.
	if got := e.tag("acme", "ivr", "CallID", "C"); got != "v2" {
		t.Fatal(got)
	}
	if err := e.store.RemoveTenant(bg, "acme"); err != nil {
		t.Fatal(err)
	}
	n := release("v9")
	n["new.lua"] = "return 1"
	r9 := e.mustUpload("acme", n, "")
	e.activate("acme", r9.ID)
	if got := e.tag("acme", "ivr", "CallID", "C"); got != "v9" {
		t.Fatalf("pin to a removed release: %q", got)
	}
	// Scripts cannot read the pin: their session is their tenant's.
	pinProbe := map[string]string{
		"ivr.lua":      `response:set_var("script", tostring(session.get("id"))) response:set_var("lib", require("util").tag)`,
		"lib/util.lua": `return { tag = "nil" }`,
	}
	rp := e.mustUpload("acme", pinProbe, "")
	e.activate("acme", rp.ID)
	if got := e.tag("acme", "ivr", "CallID", "D"); got != "nil" {
		t.Fatalf("a script sees its call's pin: %q", got)
	}
}

// A canary sends its share of new calls to its release, sticky per call;
// promote makes it live for new calls, pinned calls stay where they are.
func TestCanary(t *testing.T) {
	e := newEnv(t, nil)
	r1 := e.mustUpload("acme", release("v1"), "")
	e.activate("acme", r1.ID)
	r2 := e.mustUpload("acme", release("v2"), "")
	if err := e.store.SetCanary(bg, "acme", r1.ID, 20); !errors.Is(err, deploy.ErrConflict) {
		t.Fatalf("canary of the active release: %v", err)
	}
	if err := e.store.SetCanary(bg, "acme", r2.ID, 100); !errors.Is(err, deploy.ErrConflict) {
		t.Fatalf("canary of 100%%: %v", err)
	}
	if err := e.store.SetCanary(bg, "acme", r2.ID, 20); err != nil {
		t.Fatal(err)
	}
	const calls = 400
	first := map[string]string{}
	n2 := 0
	for i := range calls {
		id := "call-" + itoa(i)
		first[id] = e.tag("acme", "ivr", "CallID", id)
		if first[id] == "v2" {
			n2++
		}
	}
	if pct := n2 * 100 / calls; pct < 15 || pct > 25 {
		t.Fatalf("canary share %d%% of %d calls, want about 20%%", pct, calls)
	}
	for id, want := range first {
		if got := e.tag("acme", "menu", "CallID", id); got != want {
			t.Fatalf("call %s moved from %s to %s", id, want, got)
		}
	}
	if got := e.tag("acme", "ivr"); got != "v1" {
		t.Fatalf("no CallID during a canary: %q", got)
	}
	// Abort: new calls all on v1, calls on the canary finish there.
	if err := e.store.SetCanary(bg, "acme", "", 0); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if got := e.tag("acme", "ivr", "CallID", "after-abort-"+itoa(i)); got != "v1" {
			t.Fatalf("new call after abort: %q", got)
		}
	}
	for id, want := range first {
		if got := e.tag("acme", "ivr", "CallID", id); got != want {
			t.Fatalf("after abort, call %s moved from %s to %s", id, want, got)
		}
	}
	if err := e.store.SetCanary(bg, "acme", r2.ID, 50); err != nil {
		t.Fatal(err)
	}
	if p, err := deploy.Promote(bg, e.store, "acme"); err != nil || p.ID != r2.ID {
		t.Fatalf("promote: %v %v", p.ID, err)
	}
	for i := range 50 {
		if got := e.tag("acme", "ivr", "CallID", "after-promote-"+itoa(i)); got != "v2" {
			t.Fatalf("new call after promote: %q", got)
		}
	}
	for id, want := range first {
		if got := e.tag("acme", "ivr", "CallID", id); got != want {
			t.Fatalf("after promote, call %s moved from %s to %s", id, want, got)
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// A new Store over the same data directory has the same releases, active
// release and canary; what a crash left half-written is dropped.
func TestRestart(t *testing.T) {
	e := newEnv(t, nil)
	r1 := e.mustUpload("acme", release("v1"), "one")
	r2 := e.mustUpload("acme", release("v2"), "two")
	e.activate("acme", r1.ID)
	if err := e.store.SetCanary(bg, "acme", r2.ID, 30); err != nil {
		t.Fatal(err)
	}
	rb := e.mustUpload("beta", release("b1"), "")
	e.activate("beta", rb.ID)
	pinned := e.tag("acme", "ivr", "CallID", "X")
	before, _ := deploy.GetHistory(bg, e.store, "acme")

	// A second process may not open the same store.
	if _, err := deploy.OpenDisk(e.data, nil); err == nil {
		t.Fatal("a second OpenDisk of a store in use succeeded")
	}
	e.close()
	// What a crash could leave: a release being written under tmp/, and a
	// release folder without its description.
	half := filepath.Join(e.data, "releases", "tmp", "3-deadbeef.0011")
	os.MkdirAll(filepath.Join(half, "files"), 0o755)
	os.WriteFile(filepath.Join(half, "files", "ivr.lua"), []byte("return"), 0o644)
	os.MkdirAll(filepath.Join(e.data, "releases", "tenants", "acme", "4-deadbeef", "files"), 0o755)
	e.open()

	after, err := deploy.GetHistory(bg, e.store, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if after.Active != r1.ID || after.Canary == nil || after.Canary.Release != r2.ID || after.Canary.Percent != 30 ||
		len(after.Releases) != 2 || after.Releases[0].Message != "one" || !after.Releases[1].Created.Equal(before.Releases[1].Created) {
		t.Fatalf("after restart: %+v\nbefore: %+v", after, before)
	}
	if ents, _ := os.ReadDir(filepath.Join(e.data, "releases", "tmp")); len(ents) != 0 {
		t.Fatalf("tmp/ not emptied: %v", ents)
	}
	if got := e.tag("acme", "ivr", "CallID", "X"); got != pinned {
		t.Fatalf("pinned call after restart: %q, was %q", got, pinned)
	}
	if got := e.tag("beta", "ivr"); got != "b1" {
		t.Fatalf("beta after restart: %q", got)
	}
	r3 := e.mustUpload("acme", release("v3"), "")
	if !strings.HasPrefix(r3.ID, "3-") {
		t.Fatalf("version after restart: %s", r3.ID)
	}
}

// While requests run against a tenant, an activation and a rollback fail
// none of them and mix none; each call stays on one release.
func TestSwitchUnderLoad(t *testing.T) {
	e := newEnv(t, nil)
	r1 := e.mustUpload("acme", release("v1"), "")
	e.activate("acme", r1.ID)
	r2 := e.mustUpload("acme", release("v2"), "")

	const workers, perWorker = 8, 60
	var failed, mixed, moved, done atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	seen := map[string]string{} // CallID -> the release its first request got
	start := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			<-start
			for i := range perWorker {
				callID := "w" + itoa(w) + "-" + itoa(i/5) // five requests per call
				params := []string{"CallID", callID}
				inCall := i%10 != 9
				if !inCall {
					params = nil // and now and then a request without a call
				}
				if i%5 == 4 {
					params = append(params, "EventType", "hangup")
				}
				script := "ivr"
				if i%2 == 1 {
					script = "menu"
				}
				time.Sleep(time.Millisecond) // paced, so the switches land mid-loop
				vars, err := e.run("acme", script, params...)
				done.Add(1)
				if err != nil {
					failed.Add(1)
					t.Log(err)
					continue
				}
				if vars["script"] != vars["lib"] || (vars["script"] != "v1" && vars["script"] != "v2") {
					mixed.Add(1)
				}
				if inCall {
					mu.Lock()
					if was, ok := seen[callID]; !ok {
						seen[callID] = vars["script"]
					} else if was != vars["script"] {
						moved.Add(1)
					}
					mu.Unlock()
				}
			}
		})
	}
	close(start)
	for done.Load() < workers*perWorker/4 {
		time.Sleep(100 * time.Microsecond)
	}
	e.activate("acme", r2.ID)
	for done.Load() < workers*perWorker/2 {
		time.Sleep(100 * time.Microsecond)
	}
	if _, err := deploy.Rollback(bg, e.store, "acme", ""); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if failed.Load() != 0 || mixed.Load() != 0 || moved.Load() != 0 {
		t.Fatalf("%d requests: %d failed, %d mixed, %d moved to another release mid-call", done.Load(), failed.Load(), mixed.Load(), moved.Load())
	}
	if got := e.tag("acme", "ivr"); got != "v1" {
		t.Fatalf("after rollback: %q", got)
	}
	on := map[string]int{}
	for _, r := range seen {
		on[r]++
	}
	if on["v1"] == 0 || on["v2"] == 0 {
		t.Fatalf("calls per release %v: the switch did not happen under load", on)
	}
	t.Logf("%d requests, calls per release %v", done.Load(), on)
}
