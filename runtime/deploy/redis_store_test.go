package deploy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dialua/dialua/runtime/admin"
	"github.com/dialua/dialua/runtime/deploy"
	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/session"
	"github.com/dialua/dialua/runtime/testkit/redistest"
)

// logBuf is a concurrency-safe log sink.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

// node is one dialua node over a Redis release store: its store, picker,
// source and engine (no scripts folder).
type node struct {
	t     testing.TB
	url   string
	store *deploy.Redis
	pick  *deploy.Picker
	eng   *engine.Engine
	sess  session.Store
	log   *logBuf
}

func newNode(t testing.TB, url string) *node {
	t.Helper()
	n := &node{t: t, url: url, log: &logBuf{}}
	n.open()
	t.Cleanup(n.close)
	return n
}

func (n *node) open() {
	t := n.t
	t.Helper()
	log := slog.New(slog.NewTextHandler(n.log, nil))
	st, err := deploy.OpenRedis(n.url, deploy.RedisOptions{Logger: log, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	n.sess = session.NewMemory(session.MemoryLimits{})
	pick, err := deploy.NewPicker(st, deploy.PickerOptions{Sessions: n.sess, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{Source: deploy.NewSource(st, nil), Releases: pick, Sessions: n.sess, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	n.store, n.pick, n.eng = st, pick, eng
}

func (n *node) close() {
	if n.eng == nil {
		return
	}
	n.eng.Close()
	n.pick.Close()
	n.store.Close()
	n.sess.Close()
	n.eng = nil
}

// tag runs tenant's script (params name, value, ...) and returns the
// release tag it answered, "" when not found; a mixed response fails.
func (n *node) tag(tenant, script string, params ...string) (string, error) {
	req := &protocol.Request{Method: "POST", Path: "/" + tenant + "/" + script, Tenant: tenant, Script: script}
	for i := 0; i+1 < len(params); i += 2 {
		req.Params = append(req.Params, protocol.Param{Name: params[i], Value: params[i+1]})
	}
	out, err := n.eng.Run(context.Background(), req, nil)
	if errors.Is(err, engine.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	resp, err := protocol.Decode(out)
	if err != nil {
		return "", err
	}
	vars := map[string]string{}
	for _, v := range resp.Verbs {
		if v.Kind == protocol.SetVar {
			vars[v.Name] = v.Text
		}
	}
	if vars["script"] != vars["lib"] {
		return "", fmt.Errorf("mixed response: script %q, lib %q", vars["script"], vars["lib"])
	}
	return vars["script"], nil
}

func (n *node) mustTag(tenant, script string, params ...string) string {
	n.t.Helper()
	got, err := n.tag(tenant, script, params...)
	if err != nil {
		n.t.Fatalf("%s/%s: %v", tenant, script, err)
	}
	return got
}

// within fails unless the node serves want for tenant/script within d.
func (n *node) within(d time.Duration, want, tenant, script string, params ...string) time.Duration {
	n.t.Helper()
	start := time.Now()
	var got string
	for time.Since(start) < d {
		got = n.mustTag(tenant, script, params...)
		if got == want {
			return time.Since(start)
		}
		time.Sleep(5 * time.Millisecond)
	}
	n.t.Fatalf("%s/%s: still %q after %v, want %q", tenant, script, got, d, want)
	return 0
}

func (n *node) upload(tenant string, files map[string]string) (deploy.Release, error) {
	return deploy.Upload(bg, n.store, tenant, bytes.NewReader(bundle(n.t, files)), deploy.Limits{}, "")
}

func (n *node) deploy(tenant, tag string) deploy.Release {
	n.t.Helper()
	r, err := n.upload(tenant, release(tag))
	if err != nil {
		n.t.Fatal(err)
	}
	if err := n.store.Activate(bg, tenant, r.ID); err != nil {
		n.t.Fatal(err)
	}
	return r
}

// callFor finds a CallID, from the start-th on, that the canary split
// sends (or not) to the canary at percent.
func callFor(tenant string, percent int, canary bool, start int) string {
	for i := start; ; i++ {
		id := fmt.Sprintf("call-%d", i)
		if deploy.CanaryShare(tenant, id, percent) == canary {
			return id
		}
	}
}

// Two nodes on one Redis: a deploy, a canary, a promote, a rollback and a
// removal made on A are followed by B within 1 s; both serve whole
// releases; the ids and histories agree.
func TestRedisTwoNodes(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newNode(t, srv.URL()), newNode(t, srv.URL())
	if got := b.mustTag("acme", "ivr"); got != "" {
		t.Fatalf("before any release: %q", got)
	}
	r1 := a.deploy("acme", "v1")
	if got := a.mustTag("acme", "ivr"); got != "v1" {
		t.Fatalf("A right after its own activation: %q", got)
	}
	t.Logf("deploy followed by B in %v", b.within(time.Second, "v1", "acme", "ivr"))
	b.within(time.Second, "v1", "acme", "menu")

	r2, err := a.upload("acme", release("v2"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.store.SetCanary(bg, "acme", r2.ID, 30); err != nil {
		t.Fatal(err)
	}
	// A new call each time: a call's first request pins what it got.
	seen := false
	for i, start := 0, time.Now(); time.Since(start) < time.Second; i += 1000 {
		if b.mustTag("acme", "ivr", "CallID", callFor("acme", 30, true, i)) == "v2" {
			t.Logf("canary followed by B in %v", time.Since(start))
			seen = true
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !seen {
		t.Fatal("B did not follow the canary within 1 s")
	}
	if got := b.mustTag("acme", "ivr", "CallID", callFor("acme", 30, false, 0)); got != "v1" {
		t.Fatalf("call outside the canary on B: %q", got)
	}
	if _, err := deploy.Promote(bg, a.store, "acme"); err != nil {
		t.Fatal(err)
	}
	b.within(time.Second, "v2", "acme", "ivr")
	if back, err := deploy.Rollback(bg, a.store, "acme", ""); err != nil || back.ID != r1.ID {
		t.Fatalf("rollback: %v %v", back.ID, err)
	}
	b.within(time.Second, "v1", "acme", "ivr")

	ha, err := deploy.GetHistory(bg, a.store, "acme")
	if err != nil {
		t.Fatal(err)
	}
	hb, err := deploy.GetHistory(bg, b.store, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(hb.Releases) != 2 || hb.Releases[0].ID != r1.ID || hb.Releases[1].ID != r2.ID || hb.Active != r1.ID || hb.Canary != nil ||
		fmt.Sprint(ha) != fmt.Sprint(hb) {
		t.Fatalf("histories:\nA %+v\nB %+v", ha, hb)
	}
	d, err := deploy.DiffReleases(bg, b.store, "acme", r1.ID, r2.ID)
	if err != nil || len(d.Changed) != 3 {
		t.Fatalf("diff on B: %+v %v", d, err)
	}
	// The Disk's errors, from Redis.
	if err := b.store.Activate(bg, "acme", "9-00000000"); !errors.Is(err, deploy.ErrNoRelease) {
		t.Fatalf("activate unknown: %v", err)
	}
	if err := b.store.Activate(bg, "nobody", "1-00000000"); !errors.Is(err, deploy.ErrNoTenant) {
		t.Fatalf("activate, no tenant: %v", err)
	}
	if err := b.store.SetCanary(bg, "acme", r1.ID, 10); !errors.Is(err, deploy.ErrConflict) {
		t.Fatalf("canary of the active release: %v", err)
	}
	if _, err := b.store.ReadFile(bg, "acme", r1.ID, "nope.lua"); !errors.Is(err, deploy.ErrNoFile) {
		t.Fatalf("read a missing file: %v", err)
	}
	if _, err := b.store.Release(bg, "acme", "bad"); !errors.Is(err, deploy.ErrBadName) {
		t.Fatalf("bad id: %v", err)
	}

	if err := a.store.RemoveTenant(bg, "acme"); err != nil {
		t.Fatal(err)
	}
	b.within(time.Second, "", "acme", "ivr")
	if ts, err := b.store.Tenants(bg); err != nil || len(ts) != 0 {
		t.Fatalf("tenants after removal: %v %v", ts, err)
	}
	if err := b.store.RemoveTenant(bg, "acme"); !errors.Is(err, deploy.ErrNoTenant) {
		t.Fatalf("remove twice: %v", err)
	}
	// A removed tenant starts again at version 1, as with Disk.
	if r := b.deploy("acme", "v3"); !strings.HasPrefix(r.ID, "1-") {
		t.Fatalf("after removal: %s", r.ID)
	}
	a.within(time.Second, "v3", "acme", "ivr")
}

// A node whose notices are lost follows by the reconcile alone, within
// 1 s; one whose subscription connection is killed too; one that was down
// (closed, opened later) serves the latest state at once and follows
// again.
func TestRedisReconcile(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newNode(t, srv.URL()), newNode(t, srv.URL())
	a.deploy("acme", "v1")
	b.within(time.Second, "v1", "acme", "ivr")

	b.store.DropNotices(true)
	a.deploy("acme", "v2")
	t.Logf("reconcile alone followed in %v", b.within(time.Second, "v2", "acme", "ivr"))
	if _, err := deploy.Rollback(bg, a.store, "acme", ""); err != nil {
		t.Fatal(err)
	}
	b.within(time.Second, "v1", "acme", "ivr")
	b.store.DropNotices(false)

	// Kill every subscriber connection (B's and A's).
	rc := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rc.Close()
	if err := rc.Do(bg, "CLIENT", "KILL", "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	a.deploy("acme", "v3")
	b.within(time.Second, "v3", "acme", "ivr")

	// B down: closed while A deploys, then a new process.
	b.close()
	a.deploy("acme", "v4")
	b.open()
	if got := b.mustTag("acme", "ivr"); got != "v4" {
		t.Fatalf("B after its restart: %q", got)
	}
	a.deploy("acme", "v5")
	b.within(time.Second, "v5", "acme", "ivr")
}

// Redis down: both nodes keep serving what they have, deploys fail with
// ErrUnreachable ("release store unreachable: ..."), Ping fails, each
// logs the outage once; Redis back: deploys work and B follows again.
func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newNode(t, srv.URL()), newNode(t, srv.URL())
	a.deploy("acme", "v1")
	b.within(time.Second, "v1", "acme", "ivr")
	b.within(time.Second, "v1", "acme", "menu")
	a.mustTag("acme", "menu")

	srv.Down()
	failed := false
	for range 3 {
		_, err := a.upload("acme", release("v2"))
		if !errors.Is(err, deploy.ErrUnreachable) || !strings.HasPrefix(err.Error(), "release store unreachable: ") {
			t.Fatalf("deploy with Redis down: %v", err)
		}
		failed = true
	}
	if !failed {
		t.Fatal("no deploy attempted")
	}
	if err := b.store.Activate(bg, "acme", "1-00000000"); !errors.Is(err, deploy.ErrUnreachable) {
		t.Fatalf("activate with Redis down: %v", err)
	}
	if err := b.store.Ping(bg); !errors.Is(err, deploy.ErrUnreachable) {
		t.Fatalf("ping with Redis down: %v", err)
	}
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		for _, n := range []*node{a, b} {
			for _, s := range []string{"ivr", "menu"} {
				if got := n.mustTag("acme", s); got != "v1" {
					t.Fatalf("serving with Redis down: %q", got)
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	for name, n := range map[string]*node{"A": a, "B": b} {
		if c := n.log.count("release store unreachable"); c != 1 {
			t.Fatalf("%s logged the outage %d times:\n%s", name, c, n.log.b.String())
		}
	}

	// Back (an empty Redis: the test server keeps nothing on disk, so the
	// store's releases are gone and the nodes follow that too).
	srv.Up()
	for _, n := range []*node{a, b} {
		ok := false
		for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
			if n.log.count("release store reachable again") == 1 && n.store.Ping(bg) == nil {
				ok = true
				break
			}
		}
		if !ok {
			t.Fatalf("not back:\n%s", n.log.b.String())
		}
	}
	a.deploy("acme", "v2")
	b.within(time.Second, "v2", "acme", "ivr")
	b.deploy("acme", "v3")
	a.within(time.Second, "v3", "acme", "ivr")
}

// Redis hung (accepting, answering nothing): the same, and when it
// resumes with its data, the nodes carry on from where they were.
func TestRedisHung(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newNode(t, srv.URL()), newNode(t, srv.URL())
	a.deploy("acme", "v1")
	b.within(time.Second, "v1", "acme", "ivr")
	resume := srv.Hang()
	start := time.Now()
	if _, err := a.upload("acme", release("v2")); !errors.Is(err, deploy.ErrUnreachable) {
		t.Fatalf("deploy with Redis hung: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("deploy took %v to fail", d)
	}
	time.Sleep(time.Second)
	if got := b.mustTag("acme", "ivr"); got != "v1" {
		t.Fatalf("serving with Redis hung: %q", got)
	}
	resume()
	for end := time.Now().Add(2 * time.Second); a.store.Ping(bg) != nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("not back")
		}
	}
	// Wait for each node's reconcile to see it too (B's may still be
	// waiting out a call the hang held), then deploy.
	for _, n := range []*node{a, b} {
		if n == b && n.log.count("release store unreachable") == 0 {
			continue // B never looked while Redis hung
		}
		for end := time.Now().Add(2 * time.Second); n.log.count("release store reachable again") == 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("reconcile did not see Redis back:\n%s", n.log.b.String())
			}
		}
	}
	r := a.deploy("acme", "v2")
	if !strings.HasPrefix(r.ID, "2-") && !strings.HasPrefix(r.ID, "3-") {
		t.Fatalf("after the hang: %s", r.ID)
	}
	b.within(time.Second, "v2", "acme", "ivr")
}

// Deploys from A and B at once get distinct versions, and both nodes list
// every release.
func TestRedisConcurrentDeploys(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newNode(t, srv.URL()), newNode(t, srv.URL())
	const each = 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	ids := map[string]bool{}
	versions := map[int]bool{}
	for i, n := range []*node{a, b} {
		for j := range each {
			wg.Go(func() {
				files := deploy.Files{"ivr.lua": []byte(fmt.Sprintf("response:say(%q)\n", fmt.Sprint(i, "-", j)))}
				r, err := deploy.Publish(bg, n.store, "acme", files, "")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ids[r.ID], versions[r.Version] = true, true
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	if len(ids) != 2*each || len(versions) != 2*each {
		t.Fatalf("distinct ids %d, versions %d, want %d", len(ids), len(versions), 2*each)
	}
	for v := 1; v <= 2*each; v++ {
		if !versions[v] {
			t.Fatalf("version %d missing: %v", v, versions)
		}
	}
	for _, n := range []*node{a, b} {
		rs, err := n.store.Releases(bg, "acme")
		if err != nil || len(rs) != 2*each {
			t.Fatalf("releases: %d %v", len(rs), err)
		}
		for i, r := range rs {
			if r.Version != i+1 {
				t.Fatalf("order: %d at %d", r.Version, i)
			}
		}
	}
}

// Through the real admin API on A: an upload with activate=true is served
// by B within 1 s; with Redis down the upload is a 503 saying the store is
// unreachable, and /readyz is 503.
func TestRedisAdminAPI(t *testing.T) {
	srv := redistest.Start(t)
	a, b := newNode(t, srv.URL()), newNode(t, srv.URL())
	const token = "operator-token-0123456789abcdef0123456789"
	op, err := admin.ParseToken(token)
	if err != nil {
		t.Fatal(err)
	}
	adm, err := admin.New(admin.Config{Store: a.store, Operator: op})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(adm)
	defer hs.Close()
	post := func(tag string) (int, string) {
		req, _ := http.NewRequest("POST", hs.URL+"/v1/tenants/acme/releases?activate=true", bytes.NewReader(bundle(t, release(tag))))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body bytes.Buffer
		body.ReadFrom(resp.Body)
		return resp.StatusCode, body.String()
	}
	ready := func() int {
		resp, err := http.Get(hs.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code, body := post("v1"); code/100 != 2 {
		t.Fatalf("upload: %d %s", code, body)
	}
	b.within(time.Second, "v1", "acme", "ivr")
	if c := ready(); c != 200 {
		t.Fatalf("readyz: %d", c)
	}
	srv.Down()
	if code, body := post("v2"); code != 503 || !strings.Contains(body, "release store unreachable") {
		t.Fatalf("upload with Redis down: %d %s", code, body)
	}
	if c := ready(); c != 503 {
		t.Fatalf("readyz with Redis down: %d", c)
	}
	if got := b.mustTag("acme", "ivr"); got != "v1" {
		t.Fatalf("B with Redis down: %q", got)
	}
	srv.Up()
	var code int
	var body string
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if code, body = post("v2"); code/100 == 2 {
			break
		}
	}
	if code/100 != 2 {
		t.Fatalf("upload once Redis is back: %d %s", code, body)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("B's log:\n%s\nA's log:\n%s", b.log.b.String(), a.log.b.String())
		}
	})
	b.within(time.Second, "v2", "acme", "ivr")
}
