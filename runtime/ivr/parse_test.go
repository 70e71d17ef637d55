package ivr

import (
	"strings"
	"testing"
)

// ---- 10. Parse errors for bad IVR files ----

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string // substrings of the error
	}{
		{"unknown action", `
contexts:
  A:
    start:
      - play: hello
      - dance: tango
`, []string{"unknown action", "dance", "line 6"}},
		{"unknown bare word", `
contexts:
  A:
    start:
      - dance
`, []string{`"dance" is not an action`}},
		{"unknown key inside an action", `
contexts:
  A:
    start:
      - record: {var: x, digitz: 2}
`, []string{"digitz", "record"}},
		{"unknown key inside interactive", `
contexts:
  A:
    start:
      - interactive: {url: /x, metod: POST}
`, []string{"metod"}},
		{"unknown top-level key", `
entri: A
contexts:
  A:
    start: [hangup]
`, []string{"entri"}},
		{"jump to unknown context", `
contexts:
  A:
    start:
      - jump: Nowhere
`, []string{"unknown context", "Nowhere"}},
		{"jump to unknown option", `
entry: A
contexts:
  A:
    start:
      - jump: {context: B, option: "3"}
  B:
    start: [hangup]
`, []string{"no option", `"3"`}},
		{"entry missing with several contexts", `
contexts:
  A:
    start: [hangup]
  B:
    start: [hangup]
`, []string{"entry"}},
		{"entry names no context", `
entry: Main
contexts:
  A:
    start: [hangup]
`, []string{"entry context", "Main"}},
		{"entry without start option", `
entry: A
contexts:
  A:
    "1": [hangup]
`, []string{"entry context", "no start option"}},
		{"invalid option name", `
contexts:
  A:
    start: [menu]
    "10": [hangup]
`, []string{`option "10"`}},
		{"invalid option word", `
contexts:
  A:
    start: [menu]
    default: [hangup]
`, []string{`option "default"`}},
		{"no contexts", `
name: empty
`, []string{"no contexts"}},
		{"record without digits", `
contexts:
  A:
    start:
      - record: {var: x}
`, []string{"digits"}},
		{"bad method", `
contexts:
  A:
    start:
      - interactive: {url: /x, method: PUT}
`, []string{"PUT"}},
		{"bad event id", `
contexts:
  A:
    start:
      - interactive: {url: /x, event: "a"}
`, []string{"event id"}},
		{"event without url", `
events:
  hangup: {method: POST}
contexts:
  A:
    start: [hangup]
`, []string{"events", "url"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ivr, err := Parse([]byte(tc.src))
			if err == nil {
				t.Fatalf("Parse accepted the file: %+v", ivr)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestParseDefaults(t *testing.T) {
	ivr, err := Parse([]byte(`
contexts:
  Only:
    start:
      - record: {var: x, digits: 2}
      - menu
      - menu: {timeout: 3}
      - interactive: {url: /x, method: post}
      - jump: Only
    "*": [hangup]
    "#": [hangup]
    "0": [hangup]
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if ivr.Entry != "Only" || ivr.MaxSteps != 500 || ivr.Timeout != 5 {
		t.Errorf("entry %q, max_steps %d, timeout %v; want Only, 500, 5", ivr.Entry, ivr.MaxSteps, ivr.Timeout)
	}
	acts := ivr.Contexts["Only"].Options["start"]
	if a := acts[0]; a.Finish != "#" || a.Wait != 5 || a.Digits != 2 {
		t.Errorf("record = %+v, want finish # and timeout 5 by default", a)
	}
	if a := acts[2]; a.Wait != 3 {
		t.Errorf("menu {timeout: 3} wait = %v", a.Wait)
	}
	if a := acts[3]; a.Request.Method != "POST" {
		t.Errorf("interactive method = %q, want POST (normalised)", a.Request.Method)
	}
	if a := acts[4]; a.Context != "Only" || a.Option != "start" {
		t.Errorf("jump = %q/%q, want Only/start", a.Context, a.Option)
	}
}
