package ivr

// These tests drive the simulator against a hand-written Call Interactive
// server (a plain httptest server on loopback answering fixed XML bodies), not
// against dialua, so they prove the simulator speaks the protocol of
// docs/protocol.md to any server.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// got is one request as the fake server received it.
type got struct {
	Method      string
	Path        string
	RawQuery    string
	Query       url.Values
	ContentType string
	Body        string
	Form        url.Values // the body, parsed as a form
}

// param is a parameter from wherever the method puts them: the query for
// GET, the form body for POST.
func (g got) param(name string) string {
	if g.Method == http.MethodPost {
		return g.Form.Get(name)
	}
	return g.Query.Get(name)
}

// has says whether the parameter was sent at all (maybe empty).
func (g got) has(name string) bool {
	if g.Method == http.MethodPost {
		_, ok := g.Form[name]
		return ok
	}
	_, ok := g.Query[name]
	return ok
}

// answer is what the fake server replies.
type answer struct {
	status int // 0 means 200
	body   string
	wait   time.Duration // delay before answering (cut short if the client gives up)
}

// fakeCI is a Call Interactive server that answers hand-written XML and
// records what it received.
type fakeCI struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []got
}

func newFake(t *testing.T, reply func(g got) answer) *fakeCI {
	t.Helper()
	f := &fakeCI{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("fake server: reading body: %v", err)
		}
		form, err := url.ParseQuery(string(b))
		if err != nil {
			t.Errorf("fake server: body %q is not a form: %v", b, err)
		}
		g := got{
			Method:      r.Method,
			Path:        r.URL.Path,
			RawQuery:    r.URL.RawQuery,
			Query:       r.URL.Query(),
			ContentType: r.Header.Get("Content-Type"),
			Body:        string(b),
			Form:        form,
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, g)
		f.mu.Unlock()
		a := reply(g)
		if a.wait > 0 {
			select {
			case <-time.After(a.wait):
			case <-r.Context().Done():
				return
			}
		}
		if a.status == 0 {
			a.status = http.StatusOK
		}
		w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		w.WriteHeader(a.status)
		io.WriteString(w, a.body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// routes answers by URL path; an unknown path gets a 404.
func routes(m map[string]string) func(got) answer {
	return func(g got) answer {
		body, ok := m[g.Path]
		if !ok {
			return answer{status: http.StatusNotFound, body: "no route " + g.Path}
		}
		return answer{body: body}
	}
}

func (f *fakeCI) received() []got {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

func (f *fakeCI) paths() []string {
	var out []string
	for _, g := range f.received() {
		out = append(out, g.Path)
	}
	return out
}

// run parses an inline IVR and makes one call against the fake server.
func run(t *testing.T, src string, caller Caller, f *fakeCI) *Transcript {
	t.Helper()
	return runWith(t, src, caller, f, Options{})
}

// runWith is run with options (BaseURL is the fake server's).
func runWith(t *testing.T, src string, caller Caller, f *fakeCI, opts Options) *Transcript {
	t.Helper()
	ivr, err := Parse([]byte(src))
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, src)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	opts.BaseURL = f.srv.URL
	tr := Run(ctx, ivr, caller, opts)
	t.Cleanup(func() {
		if t.Failed() {
			var b strings.Builder
			tr.WriteText(&b)
			t.Logf("transcript:\n%s", b.String())
		}
	})
	return tr
}

func stepsOf(tr *Transcript, kind string) []Step {
	var out []Step
	for _, s := range tr.Steps {
		if s.Kind == kind {
			out = append(out, s)
		}
	}
	return out
}

func wantOutcome(t *testing.T, tr *Transcript, state string) {
	t.Helper()
	if tr.Outcome.State != state {
		t.Errorf("outcome = %q (%s), want %q", tr.Outcome.State, tr.Outcome.Reason, state)
	}
}

func wantList(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func wantNoErrors(t *testing.T, tr *Transcript) {
	t.Helper()
	for _, s := range stepsOf(tr, "error") {
		t.Errorf("unexpected error step at %s: %s", s.At, s.Text)
	}
}

// hasNote reports whether a note step contains text.
func hasNote(tr *Transcript, text string) bool {
	for _, s := range stepsOf(tr, "note") {
		if strings.Contains(s.Text, text) {
			return true
		}
	}
	return false
}

const xmlDecl = `<?xml version="1.0" encoding="UTF-8"?>` + "\n"

// ---- 1. Every verb ----

func TestVerbHangupEndsCallAndSkipsLaterVerbs(t *testing.T) {
	f := newFake(t, routes(map[string]string{
		"/h": xmlDecl + `<Response>
  <PlayTTS voice="Alice-8KHz">goodbye</PlayTTS>
  <Hangup/>
  <PlaySound>never-played</PlaySound>
  <SetVar name="never">1</SetVar>
</Response>`,
	}))
	tr := run(t, `
contexts:
  A:
    start:
      - interactive: /h
      - play: after-hangup
      - interactive: /not-reached
`, Caller{Number: "100"}, f)
	wantOutcome(t, tr, EndHangup)
	wantNoErrors(t, tr)
	wantList(t, "heard", tr.Heard, []string{"tts:goodbye"})
	if _, ok := tr.Vars["never"]; ok {
		t.Errorf("SetVar after Hangup was executed: vars = %v", tr.Vars)
	}
	if !hasNote(tr, "2 verb(s) after Hangup not executed") {
		t.Errorf("no note step saying the 2 verbs after Hangup were not executed")
	}
	wantList(t, "server saw", f.paths(), []string{"/h"})
	wantList(t, "requests", tr.Requests, []string{"GET /h"})
}

func TestVerbPauseAdvancesSimulatedTimeOnly(t *testing.T) {
	f := newFake(t, routes(map[string]string{
		"/p": `<Response><Pause length="30"/><Pause/><PlaySound>after-pauses</PlaySound></Response>`,
	}))
	start := time.Now()
	tr := run(t, `
contexts:
  A:
    start:
      - play: before
      - interactive: /p
      - pause: 3
      - play: end
`, Caller{}, f)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("call took %v of real time: Pause must not sleep", d)
	}
	wantOutcome(t, tr, EndEnded)
	wantNoErrors(t, tr)
	wantList(t, "heard", tr.Heard, []string{"before", "after-pauses", "end"})
	var lengths []string
	for _, s := range stepsOf(tr, "pause") {
		lengths = append(lengths, s.Value)
	}
	wantList(t, "pause lengths", lengths, []string{"30", "10", "3"})
	plays := stepsOf(tr, "play")
	if plays[0].T != 0 || plays[1].T != 40 || plays[2].T != 43 {
		t.Errorf("play times = %v, %v, %v; want 0, 40 (after 30s + default 10s), 43", plays[0].T, plays[1].T, plays[2].T)
	}
	if tr.Elapsed != 43 {
		t.Errorf("elapsed = %v, want 43", tr.Elapsed)
	}
}

func TestVerbSetVarSubstitutedEscapedIntoLaterURL(t *testing.T) {
	f := newFake(t, routes(map[string]string{
		"/set": `<Response>
  <SetVar name="ext">0003*306</SetVar>
  <SetVar name="note">a b&amp;c=d</SetVar>
</Response>`,
		"/use": `<Response/>`,
	}))
	tr := run(t, `
contexts:
  A:
    start:
      - interactive: /set
      - interactive: /use?ext=$ext&note=$note&static=1
`, Caller{}, f)
	wantOutcome(t, tr, EndEnded)
	wantNoErrors(t, tr)
	if tr.Vars["ext"] != "0003*306" || tr.Vars["note"] != "a b&c=d" {
		t.Errorf("vars = %q, want ext=0003*306 note=\"a b&c=d\"", tr.Vars)
	}
	wantList(t, "requests", tr.Requests, []string{"GET /set", "GET /use?ext=0003%2A306&note=a+b%26c%3Dd&static=1"})
	reqs := f.received()
	if len(reqs) != 2 {
		t.Fatalf("server saw %d requests, want 2", len(reqs))
	}
	use := reqs[1]
	if !strings.HasPrefix(use.RawQuery, "ext=0003%2A306&note=a+b%26c%3Dd&static=1&") {
		t.Errorf("raw query = %q, want it to start with the escaped configured query", use.RawQuery)
	}
	if use.Query.Get("ext") != "0003*306" || use.Query.Get("note") != "a b&c=d" || use.Query.Get("static") != "1" {
		t.Errorf("decoded query = %v, want ext=0003*306, note=\"a b&c=d\", static=1", use.Query)
	}
}

func TestVerbPlaySound(t *testing.T) {
	f := newFake(t, routes(map[string]string{
		"/s": `<Response>
  <PlaySound>welcome</PlaySound>
  <PlaySound language="fr" loop="1" view="system" folder="prompts" where="foreground">menu</PlaySound>
  <PlaySound where="background" digitvar="choice">pick-one</PlaySound>
</Response>`,
	}))
	tr := run(t, `
contexts:
  A:
    start:
      - interactive: /s
      - record: {var: rest, digits: 1, finish: ""}
`, Caller{Digits: "79"}, f)
	wantOutcome(t, tr, EndEnded)
	wantNoErrors(t, tr)
	wantList(t, "heard", tr.Heard, []string{"welcome", "prompts/menu", "pick-one"})
	if tr.Vars["choice"] != "7" {
		t.Errorf("digitvar choice = %q, want the caller's first key 7", tr.Vars["choice"])
	}
	if tr.Vars["rest"] != "9" {
		t.Errorf("record after PlaySound took %q, want the caller's next key 9", tr.Vars["rest"])
	}
}

func TestVerbPlayTTS(t *testing.T) {
	f := newFake(t, routes(map[string]string{
		"/t": `<Response><PlayTTS voice="Alice-8KHz" volume="100">Your balance is ten dollars</PlayTTS><PlayTTS voice="Bob">Bye</PlayTTS></Response>`,
	}))
	tr := run(t, `
contexts:
  A:
    start:
      - interactive: /t
`, Caller{}, f)
	wantOutcome(t, tr, EndEnded)
	wantNoErrors(t, tr)
	wantList(t, "heard", tr.Heard, []string{"tts:Your balance is ten dollars", "tts:Bye"})
	if tts := stepsOf(tr, "tts"); len(tts) != 2 || tts[0].Value != "Alice-8KHz" {
		t.Errorf("tts steps = %+v, want 2 with the first spoken by Alice-8KHz", tts)
	}
}

func TestVerbJump(t *testing.T) {
	const ivrSrc = `
entry: A
contexts:
  A:
    start:
      - interactive: /j
      - play: not-reached
  B:
    start:
      - play: b-start-1
      - play: b-start-2
    "2":
      - play: b2-first
      - play: b2-second
      - hangup
`
	cases := []struct {
		name, body, jumpText string
		heard                []string
		outcome              string
	}{
		{"priority 2 skips the first action",
			`<Response><Jump context="B" option="2" priority="2"/><PlaySound>never</PlaySound><Hangup/></Response>`,
			"B/2/2", []string{"b2-second"}, EndHangup},
		{"priority defaults to 1",
			`<Response><Jump context="B" option="2"/><SetVar name="never">1</SetVar></Response>`,
			"B/2", []string{"b2-first", "b2-second"}, EndHangup},
		{"option start",
			`<Response><PlaySound>before-jump</PlaySound><Jump context="B" option="start"/><PlaySound>never</PlaySound></Response>`,
			"B/start", []string{"before-jump", "b-start-1", "b-start-2"}, EndEnded},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, routes(map[string]string{"/j": tc.body}))
			tr := run(t, ivrSrc, Caller{}, f)
			wantOutcome(t, tr, tc.outcome)
			wantNoErrors(t, tr)
			wantList(t, "heard", tr.Heard, tc.heard)
			if _, ok := tr.Vars["never"]; ok {
				t.Errorf("a verb after Jump was executed: vars = %v", tr.Vars)
			}
			if !hasNote(tr, "1 verb(s) after Jump not executed") && !hasNote(tr, "2 verb(s) after Jump not executed") {
				t.Errorf("no note step saying the verbs after Jump were not executed")
			}
			jumps := stepsOf(tr, "jump")
			if len(jumps) != 1 || jumps[0].Text != tc.jumpText {
				t.Errorf("jump steps = %+v, want one to %s", jumps, tc.jumpText)
			}
			wantList(t, "server saw", f.paths(), []string{"/j"})
		})
	}
}

func TestVerbSetCallerChangesLaterRequests(t *testing.T) {
	f := newFake(t, routes(map[string]string{
		"/sc":   `<Response><SetCaller name="Bob Smith" number="92992"/></Response>`,
		"/next": ``,
		"/bye":  ``,
	}))
	tr := run(t, `
events:
  hangup: {url: /bye}
contexts:
  A:
    start:
      - interactive: /sc
      - interactive: /next
`, Caller{Number: "0040741234567", Name: "Alice"}, f)
	wantOutcome(t, tr, EndEnded)
	wantNoErrors(t, tr)
	reqs := f.received()
	if len(reqs) != 3 {
		t.Fatalf("server saw %v, want /sc, /next, /bye", f.paths())
	}
	if n, m := reqs[0].param("CallerIDNum"), reqs[0].param("CallerIDName"); n != "0040741234567" || m != "Alice" {
		t.Errorf("first request caller = %q <%s>, want \"Alice\" <0040741234567>", m, n)
	}
	for _, g := range reqs[1:] {
		if n, m := g.param("CallerIDNum"), g.param("CallerIDName"); n != "92992" || m != "Bob Smith" {
			t.Errorf("%s after SetCaller: caller = %q <%s>, want \"Bob Smith\" <92992>", g.Path, m, n)
		}
	}
	if c := stepsOf(tr, "caller"); len(c) != 1 || c[0].Text != "Bob Smith" || c[0].Value != "92992" {
		t.Errorf("caller steps = %+v", c)
	}
}

// ---- 2. Default parameters ----

func TestDefaultParameters(t *testing.T) {
	const src = `
name: Defaults
defaults:
  CalledDID: "0040318000000"
  CalledExtension: "0003*001"
  CalledNumber: "0003*001"
contexts:
  A:
    start:
      - interactive: /one
      - interactive: {url: /two, method: POST}
      - interactive: /three?unset=$nobody&other=x
`
	f := newFake(t, routes(map[string]string{"/one": "", "/two": "", "/three": ""}))
	caller := Caller{
		Number:    "0003*306",
		Name:      "Alice",
		Extension: "0003*306",
		CallID:    "5205dc5cc5a411e5ab9eb3691b90ea15",
		CallAPIID: "3584705175:5205dc5c",
	}
	tr := run(t, src, caller, f)
	wantOutcome(t, tr, EndEnded)
	wantNoErrors(t, tr)
	if tr.CallID != caller.CallID {
		t.Errorf("transcript CallID = %q, want %q", tr.CallID, caller.CallID)
	}
	reqs := f.received()
	if len(reqs) != 3 {
		t.Fatalf("server saw %v, want 3 requests", f.paths())
	}
	want := map[string]string{
		"CallID":          caller.CallID,
		"CallerIDNum":     "0003*306",
		"CallerIDName":    "Alice",
		"CallerExtension": "0003*306",
		"CallAPIID":       "3584705175:5205dc5c",
		"CallStatus":      "ANSWER",
		"CallFlow":        "IN",
		"CalledDID":       "0040318000000",
		"CalledExtension": "0003*001",
		"CalledNumber":    "0003*001",
	}
	for _, g := range reqs {
		for k, v := range want {
			if got := g.param(k); got != v {
				t.Errorf("%s %s: %s = %q, want %q", g.Method, g.Path, k, got, v)
			}
		}
		// VoipNow's documented parameters have no EventType: only an IVR
		// file that asks for it gets one.
		if g.has("EventType") {
			t.Errorf("%s %s: EventType sent without event_type: true", g.Method, g.Path)
		}
	}
	// Standard form encoding: '*' arrives as %2A and ':' as %3A.
	if raw := reqs[0].RawQuery; !strings.Contains(raw, "CallerIDNum=0003%2A306") || !strings.Contains(raw, "CallAPIID=3584705175%3A5205dc5c") {
		t.Errorf("GET raw query %q does not form-encode * and : as %%2A and %%3A", raw)
	}
	if body := reqs[1].Body; !strings.Contains(body, "CallerIDNum=0003%2A306") {
		t.Errorf("POST body %q does not form-encode * as %%2A", body)
	}
	// An unset variable is sent as an empty value, not left out or kept as "$nobody".
	third := reqs[2].Query
	if v, ok := third["unset"]; !ok || len(v) != 1 || v[0] != "" {
		t.Errorf("unset variable: query unset = %q (present %v), want one empty value", v, ok)
	}
	if third.Get("other") != "x" {
		t.Errorf("static parameter other = %q, want x", third.Get("other"))
	}
	wantList(t, "requests", tr.Requests, []string{"GET /one", "POST /two", "GET /three?unset=&other=x"})
}

func TestDefaultParametersRandomCallIDStable(t *testing.T) {
	f := newFake(t, routes(map[string]string{"/a": "", "/b": "", "/in": "", "/out": ""}))
	const src = `
events:
  dial_in: {url: /in}
  hangup: {url: /out, method: POST}
contexts:
  A:
    start:
      - interactive: /a
      - interactive: /b
`
	tr := run(t, src, Caller{Number: "100"}, f)
	wantNoErrors(t, tr)
	reqs := f.received()
	if len(reqs) != 4 {
		t.Fatalf("server saw %v, want 4 requests", f.paths())
	}
	id := reqs[0].param("CallID")
	if id == "" || id != tr.CallID {
		t.Fatalf("CallID = %q, transcript CallID = %q: want the same non-empty id", id, tr.CallID)
	}
	for _, g := range reqs {
		if g.param("CallID") != id {
			t.Errorf("%s: CallID = %q, want %q on every request of the call", g.Path, g.param("CallID"), id)
		}
	}
	tr2 := run(t, src, Caller{Number: "100"}, f)
	if tr2.CallID == "" || tr2.CallID == id {
		t.Errorf("second call CallID = %q, want a fresh id (first was %q)", tr2.CallID, id)
	}
}

func TestDefaultParametersCallFlowAndEventTypeSwitches(t *testing.T) {
	f := newFake(t, routes(map[string]string{"/a": "", "/b": ""}))
	tr := run(t, `
event_type: true
defaults:
  CallFlow: OUT
contexts:
  A:
    start:
      - interactive: /a
      - interactive: {url: /b, method: POST}
`, Caller{}, f)
	wantNoErrors(t, tr)
	reqs := f.received()
	if len(reqs) != 2 {
		t.Fatalf("server saw %v", f.paths())
	}
	for _, g := range reqs {
		if g.param("CallFlow") != "OUT" {
			t.Errorf("%s: CallFlow = %q, want OUT from defaults", g.Path, g.param("CallFlow"))
		}
		if g.param("EventType") != "call_interactive" {
			t.Errorf("%s: EventType = %q with event_type: true, want call_interactive", g.Path, g.param("EventType"))
		}
		// Every default parameter is sent, the empty ones as name= (no
		// caller number, name, extension, API id or called numbers were
		// given), as VoipNow's documented example request shows.
		for _, k := range []string{"CallerIDNum", "CallerIDName", "CallerExtension", "CallAPIID", "CalledDID", "CalledExtension", "CalledNumber"} {
			if !g.has(k) || g.param(k) != "" {
				t.Errorf("%s: %s present=%v value=%q, want sent empty (%q)", g.Path, k, g.has(k), g.param(k), g.RawQuery+g.Body)
			}
		}
	}
}

// ---- 3. GET and POST ----

func TestGETPutsParametersInQuery(t *testing.T) {
	var f *fakeCI
	f = newFake(t, routes(map[string]string{"/g": "", "/abs": ""}))
	tr := run(t, fmt.Sprintf(`
contexts:
  A:
    start:
      - set: {var: code, value: "12*3"}
      - interactive: {url: "/g?team=billing&code=$code", method: get, event: check1}
      - interactive: "%s/abs?k=v"
`, f.srv.URL), Caller{Number: "100", CallID: "c1"}, f)
	wantOutcome(t, tr, EndEnded)
	wantNoErrors(t, tr)
	reqs := f.received()
	if len(reqs) != 2 {
		t.Fatalf("server saw %v", f.paths())
	}
	g := reqs[0]
	if g.Method != "GET" || g.Path != "/g" {
		t.Errorf("got %s %s, want GET /g", g.Method, g.Path)
	}
	if g.Body != "" || g.ContentType != "" {
		t.Errorf("GET carries a body %q / Content-Type %q", g.Body, g.ContentType)
	}
	if !strings.HasPrefix(g.RawQuery, "team=billing&code=12%2A3&") {
		t.Errorf("raw query %q: want the configured static query first", g.RawQuery)
	}
	for k, v := range map[string]string{"team": "billing", "code": "12*3", "CallID": "c1", "CallerIDNum": "100", "CallStatus": "ANSWER"} {
		if g.Query.Get(k) != v {
			t.Errorf("query %s = %q, want %q", k, g.Query.Get(k), v)
		}
	}
	if a := reqs[1]; a.Path != "/abs" || a.Query.Get("k") != "v" || a.Query.Get("CallID") != "c1" {
		t.Errorf("absolute URL request = %+v, want /abs with k=v and the defaults", a)
	}
	if r := stepsOf(tr, "request"); len(r) != 2 || r[0].Text != "check1" || r[0].Params["CallID"] != "c1" {
		t.Errorf("request steps = %+v, want the event id and parameters recorded", r)
	}
}

func TestPOSTSendsFormBody(t *testing.T) {
	f := newFake(t, routes(map[string]string{"/p": ""}))
	tr := run(t, `
defaults:
  CalledNumber: "0003*001"
contexts:
  A:
    start:
      - set: {var: code, value: "4 2"}
      - interactive: {url: "/p?team=billing&code=$code", method: post, event: pay1}
`, Caller{Number: "0003*306", Name: "Alice", CallID: "c2"}, f)
	wantOutcome(t, tr, EndEnded)
	wantNoErrors(t, tr)
	reqs := f.received()
	if len(reqs) != 1 {
		t.Fatalf("server saw %v", f.paths())
	}
	p := reqs[0]
	if p.Method != "POST" || p.Path != "/p" {
		t.Errorf("got %s %s, want POST /p", p.Method, p.Path)
	}
	if p.ContentType != "application/x-www-form-urlencoded" {
		t.Errorf("Content-Type = %q, want application/x-www-form-urlencoded", p.ContentType)
	}
	if p.RawQuery != "team=billing&code=4+2" {
		t.Errorf("query = %q, want only the configured query team=billing&code=4+2", p.RawQuery)
	}
	for k, v := range map[string]string{"CallID": "c2", "CallerIDNum": "0003*306", "CallerIDName": "Alice", "CallStatus": "ANSWER", "CallFlow": "IN", "CalledNumber": "0003*001"} {
		if p.Form.Get(k) != v {
			t.Errorf("form %s = %q, want %q (body %q)", k, p.Form.Get(k), v, p.Body)
		}
	}
	if !strings.Contains(p.Body, "CallerIDNum=0003%2A306") {
		t.Errorf("body %q: * not form-encoded as %%2A", p.Body)
	}
	wantList(t, "requests", tr.Requests, []string{"POST /p?team=billing&code=4+2"})
}

// ---- 4. Malformed responses end the call; empty ones carry on ----

func TestMalformedResponseEndsCall(t *testing.T) {
	cases := []struct{ name, body string }{
		{"malformed XML", `<Response><PlaySound>first</PlaySound><Hangup></Response>`},
		{"unclosed root", `<Response><PlaySound>first</PlaySound>`},
		{"wrong root", `<Reply><PlaySound>first</PlaySound></Reply>`},
		{"unknown verb", `<Response><PlaySound>first</PlaySound><Dial>123</Dial></Response>`},
		{"unknown attribute", `<Response><PlaySound>first</PlaySound><Hangup reason="x"/></Response>`},
		{"SetCaller missing name", `<Response><PlaySound>first</PlaySound><SetCaller number="92992"/></Response>`},
		{"SetCaller missing number", `<Response><PlaySound>first</PlaySound><SetCaller name="Bob"/></Response>`},
		{"Pause length not numeric", `<Response><PlaySound>first</PlaySound><Pause length="ten"/></Response>`},
		{"text outside verbs", `<Response>hello<PlaySound>first</PlaySound></Response>`},
		{"text after root", `<Response><PlaySound>first</PlaySound></Response>trailing`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, routes(map[string]string{"/bad": tc.body, "/next": ""}))
			tr := run(t, `
contexts:
  A:
    start:
      - interactive: /bad
      - play: after
      - interactive: /next
`, Caller{}, f)
			wantOutcome(t, tr, EndError)
			errs := stepsOf(tr, "error")
			if len(errs) != 1 {
				t.Fatalf("error steps = %+v, want exactly one", errs)
			}
			if errs[0].Body != tc.body {
				t.Errorf("error step body = %q, want the offending body %q", errs[0].Body, tc.body)
			}
			if !strings.Contains(errs[0].Text, "invalid Call Interactive response") {
				t.Errorf("error step text = %q", errs[0].Text)
			}
			if len(tr.Heard) != 0 {
				t.Errorf("heard %q: no verb of a rejected response (nor a later action) may run", tr.Heard)
			}
			wantList(t, "server saw", f.paths(), []string{"/bad"})
		})
	}
}

func TestEmptyResponseCarriesOn(t *testing.T) {
	cases := []struct{ name, body string }{
		{"empty body", ``},
		{"whitespace body", " \n\t"},
		{"self-closing Response", `<Response/>`},
		{"empty Response", xmlDecl + "<Response>\n</Response>\n"},
		{"comment only", `<Response><!-- nothing to do --></Response>`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, routes(map[string]string{"/e": tc.body, "/next": ""}))
			tr := run(t, `
contexts:
  A:
    start:
      - interactive: /e
      - play: after
      - interactive: /next
      - hangup
`, Caller{}, f)
			wantOutcome(t, tr, EndHangup)
			wantNoErrors(t, tr)
			wantList(t, "heard", tr.Heard, []string{"after"})
			wantList(t, "server saw", f.paths(), []string{"/e", "/next"})
		})
	}
}

// ---- 5. Non-200 answers and timeouts are errors the IVR survives ----

func TestNon200CarriesOn(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusNotFound} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			f := newFake(t, func(g got) answer {
				if g.Path == "/fail" {
					// A body that would end the call if it were executed.
					return answer{status: status, body: `<Response><Hangup/></Response>`}
				}
				return answer{}
			})
			tr := run(t, `
contexts:
  A:
    start:
      - interactive: /fail
      - play: after
      - interactive: /next
`, Caller{}, f)
			wantOutcome(t, tr, EndEnded)
			wantList(t, "heard", tr.Heard, []string{"after"})
			wantList(t, "server saw", f.paths(), []string{"/fail", "/next"})
			errs := stepsOf(tr, "error")
			if len(errs) != 1 || !strings.Contains(errs[0].Text, fmt.Sprintf("HTTP %d", status)) {
				t.Errorf("error steps = %+v, want one about HTTP %d", errs, status)
			}
			if resp := stepsOf(tr, "response"); len(resp) == 0 || resp[0].Status != status {
				t.Errorf("response steps = %+v, want the first with status %d", resp, status)
			}
		})
	}
}

func TestTimeoutCarriesOn(t *testing.T) {
	f := newFake(t, func(g got) answer {
		if g.Path == "/slow" {
			return answer{body: `<Response><Hangup/></Response>`, wait: time.Second}
		}
		return answer{}
	})
	start := time.Now()
	tr := run(t, `
timeout: 0.2
contexts:
  A:
    start:
      - interactive: /slow
      - play: after
      - interactive: /next
`, Caller{}, f)
	if d := time.Since(start); d >= 900*time.Millisecond {
		t.Errorf("call took %v: the 0.2s request timeout was not applied", d)
	}
	wantOutcome(t, tr, EndEnded)
	wantList(t, "heard", tr.Heard, []string{"after"})
	wantList(t, "server saw", f.paths(), []string{"/slow", "/next"})
	errs := stepsOf(tr, "error")
	if len(errs) != 1 || !strings.Contains(errs[0].Text, "request failed") || !strings.Contains(errs[0].Text, "carries on") {
		t.Errorf("error steps = %+v, want one failed request the IVR carries on after", errs)
	}
}

func TestRefusedConnectionCarriesOn(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // nothing listens there any more
	f := newFake(t, routes(map[string]string{"/next": ""}))
	tr := run(t, fmt.Sprintf(`
timeout: 2
contexts:
  A:
    start:
      - interactive: "%s/gone"
      - interactive: /next
`, deadURL), Caller{}, f)
	wantOutcome(t, tr, EndEnded)
	wantList(t, "server saw", f.paths(), []string{"/next"})
	if errs := stepsOf(tr, "error"); len(errs) != 1 || !strings.Contains(errs[0].Text, "request failed") {
		t.Errorf("error steps = %+v, want one failed request", errs)
	}
}

// ---- 6. Loop guard ----

func TestLoopGuard(t *testing.T) {
	f := newFake(t, func(got) answer {
		return answer{body: `<Response><Jump context="A" option="start"/></Response>`}
	})
	tr := run(t, `
max_steps: 20
contexts:
  A:
    start:
      - interactive: /again
`, Caller{}, f)
	wantOutcome(t, tr, EndLoop)
	if n := len(f.received()); n != 20 {
		t.Errorf("server saw %d requests, want 20 (max_steps)", n)
	}
	if len(tr.Requests) != 20 {
		t.Errorf("transcript has %d requests, want 20", len(tr.Requests))
	}
}

// ---- 7. Caller model ----

func TestCallerRecord(t *testing.T) {
	f := newFake(t, routes(map[string]string{"/r": ""}))
	tr := run(t, `
contexts:
  A:
    start:
      - record: {var: a, digits: 6}
      - record: {var: b, digits: 3}
      - record: {var: c, digits: 4, finish: "*"}
      - record: {var: d, digits: 3, finish: ""}
      - record: {var: e, digits: 2, timeout: 7}
      - interactive: /r?a=$a&b=$b&c=$c&d=$d&e=$e
`, Caller{Digits: "12# 345-67 *#1_"}, f)
	wantOutcome(t, tr, EndEnded)
	wantNoErrors(t, tr)
	// a: 1 2 then # finishes; b: 3 digits max; c: 6 7 then * finishes;
	// d: # is an ordinary key without a finish key, then 1, then _ is a
	// silence (5s default); e: no keys left, silence after 7s.
	want := map[string]string{"a": "12", "b": "345", "c": "67", "d": "#1", "e": ""}
	for k, v := range want {
		if got, ok := tr.Vars[k]; !ok || got != v {
			t.Errorf("var %s = %q (set %v), want %q", k, got, ok, v)
		}
	}
	if tr.Elapsed != 12 {
		t.Errorf("elapsed = %v, want 12 (5s default record timeout + 7s)", tr.Elapsed)
	}
	reqs := f.received()
	if len(reqs) != 1 {
		t.Fatalf("server saw %v", f.paths())
	}
	if !strings.HasPrefix(reqs[0].RawQuery, "a=12&b=345&c=67&d=%231&e=&") {
		t.Errorf("raw query = %q", reqs[0].RawQuery)
	}
}

func TestCallerMenu(t *testing.T) {
	const src = `
entry: M
contexts:
  M:
    start:
      - play: menu
      - menu: {timeout: 4}
    "1":
      - play: one
      - jump: M
    "*":
      - play: star
      - jump: M
    invalid:
      - play: invalid
      - jump: M
    timeout:
      - play: timeout
      - jump: {context: End}
  End:
    start:
      - interactive: /end
      - hangup
`
	cases := []struct {
		name, digits string
		heard        []string
		elapsed      float64
	}{
		{"keys select options, unknown key is invalid, _ times out",
			"1*9_", []string{"menu", "one", "menu", "star", "menu", "invalid", "menu", "timeout"}, 4},
		{"running out of keys times out",
			"1", []string{"menu", "one", "menu", "timeout"}, 4},
		{"no keys at all",
			"", []string{"menu", "timeout"}, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, routes(map[string]string{"/end": ""}))
			tr := run(t, src, Caller{Digits: tc.digits}, f)
			wantOutcome(t, tr, EndHangup)
			wantNoErrors(t, tr)
			wantList(t, "heard", tr.Heard, tc.heard)
			if tr.Elapsed != tc.elapsed {
				t.Errorf("elapsed = %v, want %v (the menu timeout)", tr.Elapsed, tc.elapsed)
			}
			if s := stepsOf(tr, "silence"); len(s) != 1 || s[0].T != 0 {
				t.Errorf("silence steps = %+v, want one", s)
			}
			wantList(t, "server saw", f.paths(), []string{"/end"})
		})
	}
}

func TestCallerMenuWithoutTimeoutOrInvalidOptionEnds(t *testing.T) {
	const src = `
contexts:
  M:
    start:
      - menu: {timeout: 2}
      - play: not-reached
    "1":
      - play: one
`
	f := newFake(t, routes(nil))
	for digits, reason := range map[string]string{"": "no timeout option", "5": "no invalid option"} {
		tr := run(t, src, Caller{Digits: digits}, f)
		wantOutcome(t, tr, EndEnded)
		if !strings.Contains(tr.Outcome.Reason, reason) || len(tr.Heard) != 0 {
			t.Errorf("digits %q: reason %q, heard %q; want %q and nothing heard", digits, tr.Outcome.Reason, tr.Heard, reason)
		}
	}
}

// ---- 8. Call events ----

func TestCallEvents(t *testing.T) {
	const steer = `<Response><SetVar name="fromEvent">1</SetVar><PlaySound>event-sound</PlaySound><Hangup/></Response>`
	f := newFake(t, routes(map[string]string{"/in": steer, "/act": "", "/out": steer, "/outgoing": steer}))
	tr := run(t, `
event_type: true
events:
  dial_in: {url: /in}
  dial_out: {url: /outgoing}
  hangup: {url: /out, method: POST}
contexts:
  A:
    start:
      - interactive: /act
      - play: after
`, Caller{Number: "100", CallID: "ev1"}, f)
	wantOutcome(t, tr, EndEnded)
	wantNoErrors(t, tr)
	wantList(t, "heard", tr.Heard, []string{"after"})
	if _, ok := tr.Vars["fromEvent"]; ok {
		t.Errorf("an event response's SetVar was executed: vars = %v", tr.Vars)
	}
	wantList(t, "requests", tr.Requests, []string{"GET /act"})
	reqs := f.received()
	if len(reqs) != 3 {
		t.Fatalf("server saw %v, want /in, /act, /out", f.paths())
	}
	wantList(t, "server saw", f.paths(), []string{"/in", "/act", "/out"})
	check := func(g got, method, status, event string) {
		t.Helper()
		if g.Method != method || g.param("CallStatus") != status || g.param("EventType") != event || g.param("CallID") != "ev1" {
			t.Errorf("%s: %s CallStatus=%q EventType=%q CallID=%q; want %s %s %s ev1",
				g.Path, g.Method, g.param("CallStatus"), g.param("EventType"), g.param("CallID"), method, status, event)
		}
	}
	check(reqs[0], "GET", "CALLING", "dial-in")
	check(reqs[1], "GET", "ANSWER", "call_interactive")
	check(reqs[2], "POST", "ANSWER", "hangup")
	if !hasNote(tr, "dial-in event response are not executed") || !hasNote(tr, "hangup event response are not executed") {
		t.Errorf("no note steps saying the event responses' verbs were not executed")
	}

	t.Run("dial-out for CallFlow OUT", func(t *testing.T) {
		f := newFake(t, routes(map[string]string{"/in": steer, "/outgoing": steer, "/act": ""}))
		tr := run(t, `
event_type: true
defaults: {CallFlow: OUT}
events:
  dial_in: {url: /in}
  dial_out: {url: /outgoing}
contexts:
  A:
    start:
      - interactive: /act
`, Caller{}, f)
		wantOutcome(t, tr, EndEnded)
		wantList(t, "server saw", f.paths(), []string{"/outgoing", "/act"})
		reqs := f.received()
		if len(reqs) == 2 {
			check := reqs[0]
			if check.param("EventType") != "dial-out" || check.param("CallStatus") != "CALLING" || check.param("CallFlow") != "OUT" {
				t.Errorf("dial-out event: %q", check.RawQuery)
			}
		}
		if len(tr.Heard) != 0 || tr.Vars["fromEvent"] != "" {
			t.Errorf("dial-out event verbs executed: heard %q vars %v", tr.Heard, tr.Vars)
		}
	})
}

// ---- 9. Jump to where the IVR does not go ----

func TestJumpToUnknownTargetIsError(t *testing.T) {
	cases := map[string]string{
		"unknown context":  `<Response><Jump context="Nowhere" option="start"/></Response>`,
		"unknown option":   `<Response><Jump context="B" option="5"/></Response>`,
		"priority too far": `<Response><Jump context="B" option="start" priority="3"/></Response>`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFake(t, routes(map[string]string{"/j": body}))
			tr := run(t, `
entry: A
contexts:
  A:
    start:
      - interactive: /j
      - play: not-reached
  B:
    start:
      - play: b1
      - play: b2
`, Caller{}, f)
			wantOutcome(t, tr, EndError)
			if len(tr.Heard) != 0 {
				t.Errorf("heard %q, want nothing", tr.Heard)
			}
			if !strings.Contains(tr.Outcome.Reason, "Jump") {
				t.Errorf("reason = %q, want it to name the Jump", tr.Outcome.Reason)
			}
		})
	}
}

// A bare `menu` waits the documented 5 seconds on silence.
func TestBareMenuWaitsFiveSeconds(t *testing.T) {
	f := newFake(t, routes(map[string]string{}))
	tr := run(t, `
entry: M
contexts:
  M:
    start: [menu]
    timeout: [hangup]
`, Caller{}, f)
	wantOutcome(t, tr, EndHangup)
	if tr.Elapsed != 5 {
		t.Errorf("elapsed %v, want 5", tr.Elapsed)
	}
}

// PlaySound with loop is heard that many times; a Jump the IVR cannot follow
// is an error step as well as the outcome; $variables in the path are
// path-escaped.
func TestLoopJumpErrorAndPathEscaping(t *testing.T) {
	f := newFake(t, routes(map[string]string{
		"/a":       `<Response><SetVar name="v">a b/c</SetVar><PlaySound loop="3">beep</PlaySound></Response>`,
		"/p/a b/c": `<Response><Jump context="Nowhere" option="start"/></Response>`,
	}))
	tr := run(t, `
entry: M
contexts:
  M:
    start:
      - interactive: /a
      - interactive: /p/$v
`, Caller{}, f)
	wantList(t, "heard", tr.Heard, []string{"beep", "beep", "beep"})
	wantOutcome(t, tr, EndError)
	if errs := stepsOf(tr, "error"); len(errs) != 1 || !strings.Contains(errs[0].Text, "Nowhere") {
		t.Errorf("error steps: %+v", errs)
	}
	if p := f.paths(); len(p) != 2 || p[1] != "/p/a b/c" {
		t.Errorf("paths received: %q", p)
	}
}

// A hostile server cannot make the simulator run away: oversized answers and
// floods of verbs end the call with an error, and the transcript keeps only
// a bounded piece of each body.
func TestHostileServerIsBounded(t *testing.T) {
	many := "<Response>" + strings.Repeat(`<PlaySound loop="100">a</PlaySound>`, 1001) + "</Response>"
	big := "<Response>" + strings.Repeat(" ", 1<<20) + "</Response>"
	for path, want := range map[string]string{"/many": "at most 1000", "/big": "larger than"} {
		f := newFake(t, routes(map[string]string{"/many": many, "/big": big}))
		tr := run(t, `
entry: M
contexts:
  M:
    start:
      - interactive: `+path+`
      - jump: M
`, Caller{}, f)
		wantOutcome(t, tr, EndError)
		if !strings.Contains(tr.Outcome.Reason, want) {
			t.Errorf("%s: reason %q", path, tr.Outcome.Reason)
		}
		for _, s := range tr.Steps {
			if len(s.Body) > keptBody+100 {
				t.Errorf("%s: transcript kept a %d-byte body", path, len(s.Body))
			}
		}
	}
}
