package ivr

// The simulator held to what a real IVR does: answers that are not XML,
// redirects, calls that are never answered or that the caller hangs up,
// another entry context, the star and hash spellings, and parse errors in
// words.

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestAnswerThatIsNotXMLIsAWarningUnlessStrict(t *testing.T) {
	const src = `
contexts:
  A:
    start:
      - interactive: /bad
      - play: after
      - interactive: /next
`
	for _, body := range []string{"OK", "Warning: mysql_connect(): Access denied in /var/www/ci.php on line 3\n<?xml version=\"1.0\"?><Response/>"} {
		f := newFake(t, routes(map[string]string{"/bad": body, "/next": "<Response><PlaySound>next</PlaySound></Response>"}))
		tr := run(t, src, Caller{}, f)
		wantOutcome(t, tr, EndEnded)
		wantNoErrors(t, tr)
		if w := stepsOf(tr, "warning"); len(w) != 1 || !strings.Contains(w[0].Text, "not XML") {
			t.Errorf("warning steps = %+v, want one saying the answer is not XML", w)
		}
		wantList(t, "heard", tr.Heard, []string{"after", "next"})

		strict := runWith(t, src, Caller{}, f, Options{Strict: true})
		wantOutcome(t, strict, EndError)
		if e := stepsOf(strict, "error"); len(e) != 1 || e[0].Body != body {
			t.Errorf("strict: error steps = %+v, want one with the body", e)
		}
		if len(strict.Heard) != 0 {
			t.Errorf("strict: heard %q after the bad answer", strict.Heard)
		}
	}
}

func TestByteOrderMarkBeforeXMLDeclaration(t *testing.T) {
	f := newFake(t, routes(map[string]string{"/bom": "\xef\xbb\xbf<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><PlaySound>hi</PlaySound></Response>"}))
	tr := runWith(t, "contexts:\n  A:\n    start:\n      - interactive: /bom\n", Caller{}, f, Options{Strict: true})
	wantNoErrors(t, tr)
	wantList(t, "heard", tr.Heard, []string{"hi"})
}

func TestRedirectsAreFollowedAndShown(t *testing.T) {
	var moved *httptest.Server
	moved = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/old":
			http.Redirect(w, r, moved.URL+"/new?"+r.URL.RawQuery, http.StatusFound)
		case "/new":
			if r.URL.Query().Get("CallID") != "r1" {
				http.Error(w, "parameters lost in the redirect", http.StatusBadRequest)
				return
			}
			w.Write([]byte("<Response><PlaySound>moved</PlaySound></Response>"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer moved.Close()
	ivr, err := Parse([]byte("contexts:\n  A:\n    start:\n      - interactive: /old\n"))
	if err != nil {
		t.Fatal(err)
	}
	tr := Run(context.Background(), ivr, Caller{CallID: "r1"}, Options{BaseURL: moved.URL})
	wantNoErrors(t, tr)
	wantList(t, "heard", tr.Heard, []string{"moved"})
	r := stepsOf(tr, "redirect")
	if len(r) != 1 || r[0].Status != http.StatusFound || !strings.Contains(r[0].URL, "/new?") {
		t.Errorf("redirect steps = %+v, want one 302 to /new", r)
	}
	var b strings.Builder
	tr.WriteText(&b)
	if !strings.Contains(b.String(), "redirected (302) to GET "+moved.URL+"/new") {
		t.Errorf("the printed transcript does not show the redirect:\n%s", b.String())
	}
	// Requests list what the IVR was configured to ask, not where it went.
	wantList(t, "requests", tr.Requests, []string{"GET /old"})
}

func TestUnansweredCallsSendOnlyTheEvents(t *testing.T) {
	for _, status := range []string{"BUSY", "NOANSWER", "CANCEL", "CONGESTION", "CHANUNAVAIL"} {
		f := newFake(t, routes(map[string]string{"/in": "", "/act": "", "/out": ""}))
		tr := run(t, `
events:
  dial_in: {url: /in}
  hangup: {url: /out}
contexts:
  A:
    start:
      - play: never
      - interactive: /act
`, Caller{Status: strings.ToLower(status)}, f)
		wantOutcome(t, tr, EndUnanswered)
		if tr.Outcome.String() != "unanswered "+status {
			t.Errorf("outcome %q, want %q", tr.Outcome, "unanswered "+status)
		}
		wantList(t, "server saw", f.paths(), []string{"/in", "/out"})
		reqs := f.received()
		if len(reqs) == 2 && (reqs[0].param("CallStatus") != "CALLING" || reqs[1].param("CallStatus") != status) {
			t.Errorf("%s: CallStatus %q then %q, want CALLING then %s", status, reqs[0].param("CallStatus"), reqs[1].param("CallStatus"), status)
		}
		if len(tr.Heard) != 0 {
			t.Errorf("%s: heard %q on a call never answered", status, tr.Heard)
		}
	}
	if err := (&Caller{Status: "ANSWERED"}).Check(); err == nil {
		t.Error("status ANSWERED accepted; it is not a CallStatus")
	}
}

func TestCallerHangsUpWithBang(t *testing.T) {
	f := newFake(t, routes(map[string]string{"/out": "", "/act": ""}))
	tr := run(t, `
events:
  hangup: {url: /out}
contexts:
  A:
    start:
      - menu
    "1":
      - interactive: /act
      - menu
    "2":
      - play: never
`, Caller{Digits: "1!2"}, f)
	wantOutcome(t, tr, EndCallerHangup)
	wantList(t, "server saw", f.paths(), []string{"/act", "/out"})
	if r := f.received(); len(r) == 2 && r[1].param("CallStatus") != "ANSWER" {
		t.Errorf("hangup event CallStatus = %q, want ANSWER", r[1].param("CallStatus"))
	}
	if len(tr.Heard) != 0 {
		t.Errorf("heard %q after the caller hung up", tr.Heard)
	}
}

func TestEntryOption(t *testing.T) {
	const src = `
entry: Main
contexts:
  Main:
    start: [{play: main}, hangup]
  Billing:
    start: [{play: billing}, hangup]
  NoStart:
    "1": [hangup]
`
	f := newFake(t, routes(nil))
	tr := runWith(t, src, Caller{}, f, Options{Entry: "Billing"})
	wantList(t, "heard", tr.Heard, []string{"billing"})
	for _, bad := range []string{"Nowhere", "NoStart"} {
		tr := runWith(t, src, Caller{}, f, Options{Entry: bad})
		wantOutcome(t, tr, EndError)
		if !strings.Contains(tr.Outcome.Reason, bad) {
			t.Errorf("entry %s: reason %q does not name it", bad, tr.Outcome.Reason)
		}
	}
}

func TestStarAndHashSpellings(t *testing.T) {
	f := newFake(t, routes(nil))
	const src = `
contexts:
  A:
    start:
      - record: {var: code, digits: 4, finish: hash}
      - menu
    star:
      - play: star-option
      - jump: {context: A, option: hash}
    hash:
      - play: hash-option
      - hangup
`
	tr := run(t, src, Caller{Digits: "12 hash star"}, f)
	wantOutcome(t, tr, EndHangup)
	wantList(t, "heard", tr.Heard, []string{"star-option", "hash-option"})
	if tr.Vars["code"] != "12" {
		t.Errorf("code = %q, want 12 (hash finishes the recording)", tr.Vars["code"])
	}
	if _, err := Parse([]byte("contexts:\n  A:\n    start: [menu]\n    \"*\": [hangup]\n    star: [hangup]\n")); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("both \"*\" and star: err = %v, want the option given twice", err)
	}
	if _, err := NormalizeDigits("12x"); err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("digits 12x: err = %v, want x named", err)
	}
	if d, _ := NormalizeDigits("0040-741 STAR Hash_!"); d != "0040741*#_!" {
		t.Errorf("NormalizeDigits = %q", d)
	}
}

func TestCommentedHashIsAWarning(t *testing.T) {
	ivr, err := Parse([]byte(`
contexts:
  A:
    start:
      - menu
    "1":
      - play: one
    #:
      - play: hash
    "2":
      - record: {var: x, digits: 2}
      - record:
          var: y
          digits: 2
          finish: #
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(ivr.Warnings) != 2 || !strings.HasPrefix(ivr.Warnings[0], "line 8: #:") || !strings.HasPrefix(ivr.Warnings[1], "line 15: finish:") {
		t.Errorf("warnings = %q, want line 8 (#:) and line 15 (finish: #)", ivr.Warnings)
	}
	// An ordinary comment is not suspected.
	ivr, err = Parse([]byte("contexts: # the menus\n  A:\n    # start here\n    start: [hangup]\n"))
	if err != nil || len(ivr.Warnings) != 0 {
		t.Errorf("plain comments: warnings %q, err %v", ivr.Warnings, err)
	}
}

func TestParseErrorsAreInWords(t *testing.T) {
	cases := []struct{ src, want string }{
		{"contexts:\n  M:\n    start:\n      - record: {var: x, digits: abc}\n", `line 4: record: digits: "abc" is not a whole number`},
		{"contexts:\n  M:\n    start:\n      - pause: x\n", `line 4: pause: "x" is not a whole number`},
		{"contexts:\n  M:\n    start:\n      - menu\n    *:\n      - hangup\n", `line 5: a bare * starts a YAML alias`},
		{"contexts:\n  M:\n    start:\n      - jump: {context: M, priority: x}\n", `line 4: jump: priority: "x" is not a whole number`},
		{"contexts:\n  M:\n    start:\n      - play: {sound: a, loud: 1}\n", `line 4: play: unknown key "loud"`},
		{"contexts:\n  M:\n    start:\n      - interactive: {url: /x?a=1, method: GET}\n", `line 4: this {...} or [...] does not parse: quote`},
		{"events:\n  dial: {url: /x}\ncontexts:\n  M:\n    start: [hangup]\n", `line 2: unknown key "dial" in events`},
		{"contexts:\n  M:\n    start: {a: 1}\n", `line 3: start: option start takes a list of actions`},
		{"contexts:\n  M:\n    start:\n\t- hangup\n", `line 4: a tab`},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n  err  %v\n  want %s", c.src, err, c.want)
			continue
		}
		for _, goish := range []string{"struct", "!!", "int", "float64", "unmarshal", "ivr."} {
			if strings.Contains(err.Error(), goish) {
				t.Errorf("%q: error %q shows Go's %q", c.src, err, goish)
			}
		}
	}
}

func TestLiveCallKeyByKey(t *testing.T) {
	f := newFake(t, func(g got) answer {
		switch g.Path {
		case "/check":
			if g.param("code") == "42" {
				return answer{body: `<Response><SetVar name="ok">1</SetVar><Jump context="Done" option="start"/></Response>`}
			}
			return answer{body: `<Response><PlaySound>wrong</PlaySound></Response>`}
		}
		return answer{}
	})
	ivr, err := Parse([]byte(`
entry: A
events:
  hangup: {url: /out}
contexts:
  A:
    start:
      - record: {var: code, digits: 2}
      - interactive: "/check?code=$code"
      - jump: A
  Done:
    start:
      - menu
    timeout:
      - play: bye
      - menu
`))
	if err != nil {
		t.Fatal(err)
	}
	waits := make(chan Step, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l := Start(ctx, ivr, Caller{CallID: "live1", Digits: "1"}, Options{BaseURL: f.srv.URL, OnStep: func(s Step) {
		if s.Kind == "wait" {
			waits <- s
		}
	}})
	next := func(what string) {
		t.Helper()
		select {
		case s := <-waits:
			if !strings.Contains(s.Text, what) {
				t.Errorf("waiting for %q, want %q", s.Text, what)
			}
		case <-l.Done():
			var b strings.Builder
			l.Transcript().WriteText(&b)
			t.Fatalf("the call ended instead of waiting for %s:\n%s", what, b.String())
		case <-time.After(10 * time.Second):
			l.Stop()
			<-l.Done()
			var b strings.Builder
			l.Transcript().WriteText(&b)
			t.Fatalf("the call never waited for %s:\n%s", what, b.String())
		}
	}
	// "1" was preset: the walker asks for the second digit of the record.
	next("record code")
	if err := l.Press("3"); err != nil {
		t.Fatal(err)
	}
	next("record code") // wrong code: the IVR asks again
	if err := l.Press("42"); err != nil {
		t.Fatal(err)
	}
	next("menu Done")
	if l.Transcript() != nil {
		t.Error("a transcript before the call ended")
	}
	if err := l.Silence(); err != nil {
		t.Fatal(err)
	}
	next("menu Done")
	if err := l.Hangup(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not end after Hangup")
	}
	tr := l.Transcript()
	wantOutcome(t, tr, EndCallerHangup)
	wantList(t, "heard", tr.Heard, []string{"wrong", "bye"})
	wantList(t, "server saw", f.paths(), []string{"/check", "/check", "/out"})
	if tr.Vars["ok"] != "1" {
		t.Errorf("vars = %v", tr.Vars)
	}
	if err := l.Press("1"); !errors.Is(err, ErrCallEnded) {
		t.Errorf("Press after the end: %v, want ErrCallEnded", err)
	}
	if err := l.Press("x"); err == nil {
		t.Error("Press(x) accepted")
	}
}

func TestLiveCallStopsWithItsContext(t *testing.T) {
	ivr, err := Parse([]byte("contexts:\n  A:\n    start: [menu]\n"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := Start(ctx, ivr, Caller{}, Options{BaseURL: "http://127.0.0.1:1"})
	cancel()
	select {
	case <-l.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a live call outlived its context")
	}
}

func TestRunRefusesACallerItCannotPlay(t *testing.T) {
	f := newFake(t, routes(map[string]string{"/in": ""}))
	for _, c := range []Caller{{Digits: "12x"}, {Status: "ANSWERED"}} {
		tr := run(t, "events:\n  dial_in: {url: /in}\ncontexts:\n  A:\n    start: [menu]\n", c, f)
		wantOutcome(t, tr, EndError)
		if !strings.Contains(tr.Outcome.Reason, "caller:") {
			t.Errorf("%+v: reason %q does not say the caller is at fault", c, tr.Outcome.Reason)
		}
	}
	if p := f.paths(); len(p) != 0 {
		t.Errorf("requests %q sent for a caller the simulator refused", p)
	}
}
