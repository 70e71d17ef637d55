package devconsole_test

import (
	"bufio"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/devconsole"
	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/sandbox"
	"github.com/dialua/dialua/runtime/server"
	"github.com/dialua/dialua/runtime/session"
)

func TestMain(m *testing.M) {
	sandbox.LimitArrays()
	os.Exit(m.Run())
}

// dev is a console wired to a real dialua server on loopback, as
// `dialua dev` wires them.
type dev struct {
	url     string // the console
	scripts string // the Call Interactive server
}

func startDev(t *testing.T, scriptsDir, ivrDir string) *dev {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := devconsole.NewRecorder(session.NewMemory(session.MemoryLimits{}))
	con, err := devconsole.New(devconsole.Config{BaseURL: "http://" + ln.Addr().String(), IVRDir: ivrDir, ScriptsDir: scriptsDir, Sessions: rec})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(con.LogHandler(slog.DiscardHandler))
	eng, err := engine.New(engine.Options{ScriptsDir: scriptsDir, Sessions: rec, Logger: log, Dev: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Config{Engine: eng, Logger: log, AccessLog: server.AccessAll})
	go srv.Serve(ln)
	web := httptest.NewServer(con.Handler())
	t.Cleanup(func() {
		con.Close()
		web.Close()
		srv.Shutdown(t.Context())
		eng.Close()
	})
	return &dev{url: web.URL, scripts: "http://" + ln.Addr().String()}
}

func post(t *testing.T, url string, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", url, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// events reads a call's stream until the wanted event (or the end), with
// a deadline.
func events(t *testing.T, url string, until func(devconsole.Event) bool) []devconsole.Event {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("stream Content-Type %q", ct)
	}
	var out []devconsole.Event
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var e devconsole.Event
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			t.Fatalf("event %q: %v", data, err)
		}
		out = append(out, e)
		if until(e) || e.Type == "end" {
			return out
		}
	}
	t.Fatalf("the stream ended without the event wanted (%v); got %d events", sc.Err(), len(out))
	return nil
}

func waiting(e devconsole.Event) bool { return e.Type == "step" && e.Step.Kind == "wait" }

func TestLiveCallThroughDemoSupport(t *testing.T) {
	d := startDev(t, "../../scripts", "../../examples")
	code, call := post(t, d.url+"/api/calls", map[string]any{"ivr": "support/support.ivr.yaml", "caller": map[string]string{"number": "0040741234567", "name": "Alice"}})
	if code != http.StatusCreated {
		t.Fatalf("place call: %d %v", code, call)
	}
	stream := d.url + "/api/calls/" + call["id"].(string) + "/events"
	evs := events(t, stream, waiting)
	if last := evs[len(evs)-1]; !waiting(last) || last.Step.At != "Support/start/2" {
		t.Fatalf("the call should wait for the subscription at Support/start/2; last event %+v", last)
	}
	// A wrong id first: the script counts it in the session.
	if code, out := post(t, d.url+"/api/calls/"+call["id"].(string)+"/press", map[string]string{"keys": "111111"}); code != 200 {
		t.Fatalf("press: %d %v", code, out)
	}
	if code, out := post(t, d.url+"/api/calls/"+call["id"].(string)+"/press", map[string]string{"keys": "934924"}); code != 200 {
		t.Fatalf("press: %d %v", code, out)
	}
	evs = events(t, stream, func(devconsole.Event) bool { return false })
	var sawLog, sawSession, sawScriptJump bool
	for _, e := range evs {
		switch {
		case e.Type == "log" && e.Log.Msg == "request" && e.Log.Attrs["script"] == "support":
			sawLog = true
		case e.Type == "session" && e.Session["demo.support_attempts"] == "1":
			sawSession = true
		case e.Type == "step" && e.Step.Kind == "jump" && e.Step.ByScript && e.Step.Text == "QueueGold/start":
			sawScriptJump = true
		}
	}
	end := evs[len(evs)-1]
	if end.Type != "end" || end.End.Outcome.String() != "queue gold-support" || end.End.Inputs != "111111934924" {
		t.Fatalf("end of call: %+v", end.End)
	}
	if !sawLog || !sawSession || !sawScriptJump {
		t.Errorf("log line of the request %v, session with the miss counted %v, the script's jump %v", sawLog, sawSession, sawScriptJump)
	}
	if code, _ := post(t, d.url+"/api/calls/"+call["id"].(string)+"/press", map[string]string{"keys": "1"}); code != http.StatusConflict {
		t.Errorf("a key for an ended call: %d, want 409", code)
	}
}

func TestScriptErrorShowsItsSourceLine(t *testing.T) {
	scripts, ivrs := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(scripts, "acme"), 0o755)
	os.WriteFile(filepath.Join(scripts, "acme", "broken.lua"), []byte("local t = nil\nprint('before')\nlocal x = t.field\n"), 0o644)
	os.WriteFile(filepath.Join(ivrs, "b.ivr.yaml"), []byte("entry: Main\ncontexts:\n  Main:\n    start:\n      - interactive: /acme/broken\n      - hangup\n"), 0o644)
	d := startDev(t, scripts, ivrs)
	_, call := post(t, d.url+"/api/calls", map[string]any{"ivr": "b.ivr.yaml", "caller": map[string]string{}})
	evs := events(t, d.url+"/api/calls/"+call["id"].(string)+"/events", func(devconsole.Event) bool { return false })
	var printed, failed *devconsole.LogLine
	for _, e := range evs {
		if e.Type == "log" && e.Log.Msg == "script print" {
			printed = e.Log
		}
		if e.Type == "log" && e.Log.Msg == "script failed" {
			failed = e.Log
		}
	}
	if printed == nil || printed.Attrs["text"] != "before" {
		t.Errorf("print line: %+v", printed)
	}
	if failed == nil || failed.Location != "acme/broken.lua:3" || failed.Source != "3 | local x = t.field" {
		t.Fatalf("error line: %+v", failed)
	}
}

func TestGuardRefusesOtherOrigins(t *testing.T) {
	d := startDev(t, "../../scripts", "../../examples")
	get := func(hdr map[string]string) int {
		req, _ := http.NewRequest("GET", d.url+"/api/ivrs", nil)
		for k, v := range hdr {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	host := strings.TrimPrefix(d.url, "http://")
	for _, c := range []struct {
		name string
		hdr  map[string]string
		want int
	}{
		{"own page", map[string]string{"Origin": d.url, "Sec-Fetch-Site": "same-origin"}, 200},
		{"address bar", map[string]string{"Sec-Fetch-Site": "none"}, 200},
		{"localhost name", map[string]string{"Host": "localhost:" + strings.Split(host, ":")[1]}, 200},
		{"another site's fetch", map[string]string{"Origin": "http://evil.example"}, 403},
		{"another port of this machine", map[string]string{"Origin": "http://127.0.0.1:1"}, 403},
		{"cross-site without Origin", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"DNS rebinding", map[string]string{"Host": "evil.example:" + strings.Split(host, ":")[1]}, 421},
	} {
		if got := get(c.hdr); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
	// A form post (what a cross-site page can send without asking).
	resp, err := http.Post(d.url+"/api/calls", "application/x-www-form-urlencoded", strings.NewReader("ivr=support/support.ivr.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("form post: %d, want 415", resp.StatusCode)
	}
}

func TestFilesStayInTheIVRFolder(t *testing.T) {
	d := startDev(t, "../../scripts", "../../examples")
	for _, name := range []string{"../examples/support/support.ivr.yaml", "/etc/passwd", "support/support.test.yaml", "support/missing.ivr.yaml", ""} {
		if code, _ := post(t, d.url+"/api/calls", map[string]any{"ivr": name, "caller": map[string]string{}}); code != http.StatusBadRequest {
			t.Errorf("ivr %q: %d, want 400", name, code)
		}
	}
	if code, _ := post(t, d.url+"/api/scenarios/run", map[string]string{"file": "../../etc/x.test.yaml"}); code != http.StatusBadRequest {
		t.Errorf("scenario outside the folder: %d, want 400", code)
	}
	resp, err := http.Get(d.url + "/api/flow?ivr=..%2F..%2Fgo.mod")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("flow of a file outside: %d, want 400", resp.StatusCode)
	}
}

func TestFlowAndScenarios(t *testing.T) {
	d := startDev(t, "../../scripts", "../../examples")
	resp, err := http.Get(d.url + "/api/flow?ivr=routing/routing.ivr.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var flow devconsole.Flow
	json.NewDecoder(resp.Body).Decode(&flow)
	resp.Body.Close()
	if flow.Entry != "Language" || len(flow.Contexts) < 3 || flow.Contexts[0].Name != "Language" || flow.Contexts[1].Name != "MainMenu" || flow.Contexts[2].Depth != 2 {
		t.Fatalf("flow: entry %q, first context %+v", flow.Entry, flow.Contexts)
	}
	menus := 0
	for _, e := range flow.Edges {
		if e.Kind == "menu" && strings.HasPrefix(e.From, "MainMenu/") {
			menus++
		}
	}
	if menus == 0 {
		t.Errorf("the main menu's keys are not drawn: %+v", flow.Edges)
	}
	code, run := post(t, d.url+"/api/scenarios/run", map[string]string{"file": "support/support.test.yaml"})
	if code != 200 || run["failed"].(float64) != 0 || run["passed"].(float64) < 5 {
		t.Fatalf("scenario run: %d %v", code, run)
	}
}

// A call whose answers are huge stops growing the console's copy of it
// (one note says so) and still ends.
func TestCallTooLargeForTheConsoleStillEnds(t *testing.T) {
	scripts, ivrs := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(scripts, "acme"), 0o755)
	os.WriteFile(filepath.Join(scripts, "acme", "big.lua"), []byte(`response:set_var("blob", string.rep("x", 100000))`+"\n"), 0o644)
	os.WriteFile(filepath.Join(ivrs, "loop.ivr.yaml"), []byte("entry: Main\nmax_steps: 300\ncontexts:\n  Main:\n    start:\n      - interactive: /acme/big\n      - jump: Main\n"), 0o644)
	d := startDev(t, scripts, ivrs)
	_, call := post(t, d.url+"/api/calls", map[string]any{"ivr": "loop.ivr.yaml", "caller": map[string]string{}})
	evs := events(t, d.url+"/api/calls/"+call["id"].(string)+"/events", func(devconsole.Event) bool { return false })
	var noted bool
	bytes := 0
	for _, e := range evs {
		if e.Type == "log" && strings.Contains(e.Log.Msg, "too large for the console") {
			noted = true
		}
		if e.Step != nil {
			bytes += len(e.Step.Value) + len(e.Step.Body)
		}
	}
	if end := evs[len(evs)-1]; end.Type != "end" || end.End.Outcome.State != "loop" {
		t.Fatalf("last event %+v", end)
	}
	if !noted || bytes > 10<<20 {
		t.Errorf("noted %v, %d bytes of steps kept", noted, bytes)
	}
}

// dialua dev refuses a --console address that is not loopback only.
func TestLoopbackAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8090": true, "[::1]:8090": true, "localhost:8090": true,
		"0.0.0.0:8090": false, ":8090": false, "127.0.0.1": false, "10.0.0.1:8090": false,
	} {
		if got := devconsole.LoopbackAddr(addr); got != want {
			t.Errorf("LoopbackAddr(%q) = %v, want %v", addr, got, want)
		}
	}
}
