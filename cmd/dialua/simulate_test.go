package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// TestCallPrintsTranscript: dialua call against the bundled scripts (served
// in-process) walks the support example and prints what happened.
func TestCallPrintsTranscript(t *testing.T) {
	r := runDialua(t, "../..", "call", "--ivr", "examples/support/support.ivr.yaml", "--digits", "934924", "--caller", "0040741234567", "--call-id", "abc123")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"call abc123 to Customer support",
		"play sound enter-subscription-number",
		"caller presses 9",
		`set subscription = "934924"`,
		"request GET http://127.0.0.1:",
		"/demo/support?subscription_code=934924&CallID=abc123&CallerIDNum=0040741234567&CallerIDName=&",
		"CallID=abc123",
		`say "Thank you, Alice Martin. Connecting you to gold support."`,
		"jump to QueueGold/start",
		"outcome: queue gold-support",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("transcript lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestCallJSON(t *testing.T) {
	r := runDialua(t, "../..", "call", "--ivr", "examples/verify/verify.ivr.yaml", "--digits", "1342",
		"--call-api-id", "3584705175:5205dc5cc5a411e5ab9eb3691b90ea15", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var tr struct {
		Outcome  struct{ State string }
		Vars     map[string]string
		Requests []string
		Heard    []string
		Elapsed  float64
		Steps    []struct{ Kind string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &tr); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, r.stdout)
	}
	if tr.Outcome.State != "hangup" || tr.Vars["verified"] != "1" || len(tr.Requests) != 2 || tr.Elapsed != 5 {
		t.Errorf("transcript: %+v", tr)
	}
}

func TestCallAgainstAnotherServer(t *testing.T) {
	// --url points the simulator at a server it did not start; nothing listens
	// on this port, so every request fails and the IVR carries on.
	port := freePort(t)
	r := runDialua(t, "../..", "call", "--ivr", "examples/payment/payment.ivr.yaml", "--digits", "1", "--url", "http://"+port)
	if r.code != 0 || !strings.Contains(r.stdout, "ERROR request failed") || !strings.Contains(r.stdout, "outcome: hangup") {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestCallBadUsage(t *testing.T) {
	for _, args := range [][]string{
		{"call"},
		{"call", "--ivr", "/nonexistent.yaml"},
		{"call", "--ivr", "examples/support/support.ivr.yaml", "--scripts", "/nonexistent"},
	} {
		if r := runDialua(t, "../..", args...); r.code != 2 {
			t.Errorf("%q: exit %d, want 2\n%s", args, r.code, r.stderr)
		}
	}
}

// TestTestCommand: dialua test on the bundled examples passes and ends with
// the summary line; a scenario that expects the wrong thing fails with a diff
// and a non-zero exit.
func TestTestCommand(t *testing.T) {
	r := runDialua(t, "../..", "test")
	if r.code != 0 {
		t.Fatalf("bundled examples: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	last := lines(r.stdout)[len(lines(r.stdout))-1]
	if !strings.HasSuffix(last, " passed, 0 failed") || strings.HasPrefix(last, "0 ") {
		t.Errorf("last line %q", last)
	}
	// The README shows this command's summary: it must say what the
	// command says.
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "$ go run ./cmd/dialua test\n...\n"+last+"\n") {
		t.Errorf("README.md does not show the summary %q after go run ./cmd/dialua test", last)
	}

	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"scripts/t/x.lua": `response:play_sound("hello") response:hangup()`,
		"suite/x.ivr.yaml": `
entry: A
contexts:
  A:
    start:
      - interactive: /t/x
`,
		"suite/x.test.yaml": `
ivr: x.ivr.yaml
scenarios:
  - name: right
    expect: {heard: [hello], end: hangup}
  - name: wrong
    expect: {heard: [goodbye], end: "queue q"}
`,
	})
	r = runDialua(t, dir, "test", "--scripts", "scripts", "suite")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"PASS suite/x.test.yaml: right",
		"FAIL suite/x.test.yaml: wrong",
		`heard differ from item 1:`,
		`want "goodbye"`,
		`got  "hello"`,
		`end: want "queue q", got "hangup"`,
		"1 passed, 1 failed",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := runDialua(t, dir, "test", "nothing-here"); r.code != 2 {
		t.Errorf("missing path: exit %d, want 2", r.code)
	}
}

func TestCallEntryStatusAndStrict(t *testing.T) {
	// --entry skips the language menu: 1 at the main menu is sales.
	r := runDialua(t, "../..", "call", "--ivr", "examples/routing/routing.ivr.yaml", "--entry", "MainMenu", "--digits", "1")
	if r.code != 0 || strings.Contains(r.stdout, "press-1-english-2-french") || !strings.Contains(r.stdout, "MainMenu/start/1") {
		t.Errorf("--entry MainMenu: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runDialua(t, "../..", "call", "--ivr", "examples/routing/routing.ivr.yaml", "--entry", "Nowhere")
	if r.code != 2 || !strings.Contains(r.stderr, "--entry Nowhere") {
		t.Errorf("--entry Nowhere: exit %d, stderr %q; want 2 and the flag named", r.code, r.stderr)
	}
	r = runDialua(t, "../..", "call", "--ivr", "examples/support/support.ivr.yaml", "--status", "busy")
	if r.code != 0 || !strings.Contains(r.stdout, "outcome: unanswered BUSY") || !strings.Contains(r.stdout, "CallStatus=BUSY") {
		t.Errorf("--status busy: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runDialua(t, "../..", "call", "--ivr", "examples/support/support.ivr.yaml", "--digits", "12x")
	if r.code != 2 || !strings.Contains(r.stderr, `"x" is not a key`) {
		t.Errorf("--digits 12x: exit %d, stderr %q", r.code, r.stderr)
	}

	// A server that answers plain text: a warning by default, an error
	// with --strict.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "Database error, please try later")
	}))
	defer plain.Close()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"plain.ivr.yaml": "contexts:\n  A:\n    start:\n      - interactive: /x\n      - play: after\n"})
	r = runDialua(t, dir, "call", "--ivr", "plain.ivr.yaml", "--url", plain.URL)
	if r.code != 0 || !strings.Contains(r.stdout, "WARNING the answer is not XML") || !strings.Contains(r.stdout, "play sound after") {
		t.Errorf("plain-text answer: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runDialua(t, dir, "call", "--ivr", "plain.ivr.yaml", "--url", plain.URL, "--strict")
	if r.code != 1 || !strings.Contains(r.stdout, "outcome: error") || strings.Contains(r.stdout, "play sound after") {
		t.Errorf("plain-text answer with --strict: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestCallWarnsOfCommentedHash(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"hash.ivr.yaml": "contexts:\n  A:\n    start:\n      - menu\n    \"1\":\n      - play: one\n    #:\n      - play: hash\n"})
	r := runDialua(t, dir, "call", "--ivr", "hash.ivr.yaml", "--url", "http://127.0.0.1:1", "--digits", "1")
	if !strings.Contains(r.stderr, "warning: hash.ivr.yaml: line 7: #: is a YAML comment") {
		t.Errorf("no warning for #: on stderr: exit %d\n%s", r.code, r.stderr)
	}
}
