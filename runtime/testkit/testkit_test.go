package testkit_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/testkit"
)

// No TestMain here: NewEngine sets the array limit itself.

func TestRequestSplitsThePath(t *testing.T) {
	for _, c := range []struct{ path, tenant, script string }{
		{"/acme/ivr", "acme", "ivr"},
		{"/acme/menu/", "acme", "menu"},
		{"/acme/billing/index", "acme", "billing/index"},
		{"/acme", "acme", ""},
		{"/acme/", "acme", ""},
	} {
		r := testkit.Request(c.path, "a", "1", "a", "2")
		if r.Method != "GET" || r.Path != c.path || r.Tenant != c.tenant || r.Script != c.script {
			t.Errorf("%s: %+v", c.path, r)
		}
		if v, _ := r.Get("a"); v != "2" || len(r.Params) != 2 {
			t.Errorf("%s: params %v", c.path, r.Params)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("an odd number of params did not panic")
		}
	}()
	testkit.Request("/a/b", "lonely")
}

func TestEngineRunsScripts(t *testing.T) {
	e := testkit.NewEngine(t, testkit.Scripts(t, map[string]string{
		"acme/ivr.lua":        `log.info("hi", {n = 1}) response:set_var("who", request.params.who):hangup()`,
		"acme/menu/index.lua": `response:set_var("script", request.script)`,
		"acme/bad.lua":        "local x = 1\nerror('boom')",
	}), engine.Options{})
	testkit.SameVerbs(t, e.Verbs(t, "/acme/ivr", "who", "me", "CallID", "c1"), []protocol.Verb{
		{Kind: protocol.SetVar, Name: "who", Text: "me"}, {Kind: protocol.Hangup}})
	if got := e.Vars(t, "/acme/menu/"); got["script"] != "menu" {
		t.Errorf("index script: %v", got)
	}
	se := e.Fail(t, "/acme/bad")
	if se.Kind != engine.KindRuntime || se.Location != "acme/bad.lua:2" || !strings.Contains(se.Message, "boom") {
		t.Errorf("failure: %+v", se)
	}
	if _, err := e.Call(t, "/acme/none"); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("missing script: %v", err)
	}
	recs := e.Logs.Records("hi")
	if len(recs) != 1 || recs[0]["tenant"] != "acme" || recs[0]["call_id"] != "c1" {
		t.Errorf("log records: %v", recs)
	}
	if lines := e.Logs.RunLines("acme"); len(lines) != 1 {
		t.Errorf("run lines: %q", lines)
	}
	if e.Dir == "" || len(e.Logs.Records("")) < 1 {
		t.Errorf("dir %q, records %v", e.Dir, e.Logs.Records(""))
	}
}

func TestLogsAreSafeForConcurrentUse(t *testing.T) {
	logs := testkit.NewLogs()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 100 {
				logs.Logger().Info("line", "g", g, "i", i)
				if i%25 == 0 {
					logs.Records("line") // reading while others write
				}
			}
		}()
	}
	wg.Wait()
	if n := len(logs.Records("line")); n != 800 {
		t.Errorf("%d records, want 800", n)
	}
	if n := len(logs.Lines()); n != 800 || logs.Len() != len(logs.String()) {
		t.Errorf("%d lines, Len %d", n, logs.Len())
	}
	logs.Reset()
	if logs.Len() != 0 || len(logs.Records("")) != 0 {
		t.Error("Reset kept lines")
	}
}

func TestBackendRecordsAndAnswers(t *testing.T) {
	b := testkit.NewBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		io.WriteString(w, "got "+string(body))
	}))
	resp, err := http.Post(b.URL+"/hook?x=1", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(answer) != "got hello" {
		t.Errorf("answer %q", answer)
	}
	reqs := b.Received()
	if len(reqs) != 1 || reqs[0].Method != "POST" || reqs[0].Path != "/hook" || reqs[0].Query != "x=1" ||
		reqs[0].Body != "hello" || reqs[0].Header.Get("Content-Type") != "text/plain" || reqs[0].Remote == "" {
		t.Errorf("received %+v", reqs)
	}
	if !strings.HasPrefix(b.HostPort(), "127.0.0.1:") {
		t.Errorf("host %q", b.HostPort())
	}
	plain := testkit.NewBackend(t, nil)
	resp, err = http.Get(plain.URL)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(answer) != "ok" {
		t.Errorf("default answer %q", answer)
	}
}

func TestWithin(t *testing.T) {
	n := 0
	if d, ok := testkit.Within(time.Second, func() bool { n++; return n == 3 }); !ok || d > 500*time.Millisecond {
		t.Errorf("%v %v", d, ok)
	}
	if _, ok := testkit.Within(30*time.Millisecond, func() bool { return false }); ok {
		t.Error("a condition that never holds held")
	}
}
