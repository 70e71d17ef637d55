package server

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/testkit"
)

// serveWith runs a server with cfg over a test engine and returns its base
// URL and the log.
func serveWith(t *testing.T, files map[string]string, cfg Config) (string, *testkit.Logs) {
	t.Helper()
	e := testkit.NewEngine(t, testkit.Scripts(t, files), engine.Options{})
	cfg.Engine, cfg.Logger = e.Engine, e.Logs.Logger()
	srv := New(cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { ln.Close() })
	return "http://" + ln.Addr().String(), e.Logs
}

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// One access-log line per request, field by field; failures at warn and
// error; the path as sent when no script path could be read.
func TestAccessLogLines(t *testing.T) {
	base, logs := serveWith(t, map[string]string{
		"acme/ok.lua":   `response:hangup()`,
		"acme/boom.lua": `error("boom")`,
	}, Config{})
	if s := get(t, base+"/acme/ok?CallID=c-1&EventType=hangup"); s != 200 {
		t.Fatalf("ok: %d", s)
	}
	get(t, base+"/acme/missing?CallID=c-2")
	get(t, base+"/acme/boom")
	get(t, base+"/..%2fetc/passwd")
	recs := logs.Records("request")
	if len(recs) != 4 {
		t.Fatalf("%d access lines, want 4: %s", len(recs), logs.String())
	}
	ok := recs[0]
	for k, want := range map[string]any{"level": "INFO", "tenant": "acme", "script": "ok", "method": "GET",
		"status": float64(200), "call_id": "c-1", "event": "hangup", "release": ""} {
		if ok[k] != want {
			t.Errorf("ok line: %s = %v, want %v", k, ok[k], want)
		}
	}
	if b, _ := ok["bytes"].(float64); b < 50 {
		t.Errorf("bytes %v", ok["bytes"])
	}
	if ms, isNum := ok["ms"].(float64); !isNum || ms < 0 {
		t.Errorf("ms %v", ok["ms"])
	}
	if r, _ := ok["remote"].(string); !strings.HasPrefix(r, "127.0.0.1:") {
		t.Errorf("remote %v", ok["remote"])
	}
	if recs[1]["status"] != float64(404) || recs[1]["level"] != "WARN" || recs[1]["script"] != "missing" {
		t.Errorf("404 line: %v", recs[1])
	}
	if recs[2]["status"] != float64(500) || recs[2]["level"] != "ERROR" {
		t.Errorf("500 line: %v", recs[2])
	}
	if recs[3]["status"] != float64(400) || recs[3]["tenant"] != "" || !strings.Contains(recs[3]["script"].(string), "passwd") {
		t.Errorf("400 line: %v", recs[3])
	}
}

// Sampling keeps one success in N and every failure; errors-only and off
// do what they say.
func TestAccessLogSamplingAndModes(t *testing.T) {
	files := map[string]string{"acme/ok.lua": `return`}
	for _, c := range []struct {
		cfg        Config
		ok, failed int // lines expected for 10 successes and 2 failures
	}{
		{Config{AccessSample: 5}, 2, 2},
		{Config{AccessLog: AccessErrors}, 0, 2},
		{Config{AccessLog: AccessOff}, 0, 0},
		{Config{}, 10, 2},
	} {
		base, logs := serveWith(t, files, c.cfg)
		for range 10 {
			get(t, base+"/acme/ok")
		}
		get(t, base+"/acme/nope")
		get(t, base+"/acme/nope")
		var ok, failed int
		for _, r := range logs.Records("request") {
			if r["status"] == float64(200) {
				ok++
			} else {
				failed++
			}
		}
		if ok != c.ok || failed != c.failed {
			t.Errorf("%+v: %d success and %d failure lines, want %d and %d", c.cfg, ok, failed, c.ok, c.failed)
		}
	}
}
