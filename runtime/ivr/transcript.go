package ivr

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// WriteText prints the transcript for a person: one line per step, with the
// simulated time and the IVR position, then the variables and the outcome.
func (t *Transcript) WriteText(w io.Writer) {
	name := t.IVR
	if name == "" {
		name = "IVR"
	}
	fmt.Fprintf(w, "call %s to %s\n", t.CallID, name)
	for _, s := range t.Steps {
		fmt.Fprintf(w, "%6.1fs  %-22s %s\n", s.T, s.At, describe(s))
	}
	if len(t.Vars) > 0 {
		keys := make([]string, 0, len(t.Vars))
		for k := range t.Vars {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(w, "variables:")
		for _, k := range keys {
			fmt.Fprintf(w, " %s=%q", k, t.Vars[k])
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "outcome: %s", t.Outcome)
	if t.Outcome.Reason != "" {
		fmt.Fprintf(w, " (%s)", t.Outcome.Reason)
	}
	fmt.Fprintf(w, " after %.1fs, %d request(s)\n", t.Elapsed, len(t.Requests))
}

func describe(s Step) string {
	switch s.Kind {
	case "play":
		return "play sound " + s.Sound
	case "tts":
		if s.Value != "" {
			return fmt.Sprintf("say %q (voice %s)", s.Text, s.Value)
		}
		return fmt.Sprintf("say %q", s.Text)
	case "key":
		return "caller presses " + s.Key
	case "silence":
		return "caller is silent: " + s.Text
	case "set":
		return fmt.Sprintf("set %s = %q", s.Var, s.Value)
	case "caller":
		return fmt.Sprintf("caller ID becomes %q <%s>", s.Text, s.Value)
	case "jump":
		return "jump to " + s.Text
	case "pause":
		return "pause " + s.Value + "s"
	case "request":
		ev := ""
		if s.Text != "" {
			ev = " [event " + s.Text + "]"
		}
		return fmt.Sprintf("request %s %s%s", s.Method, s.URL, ev)
	case "response":
		return fmt.Sprintf("response %d %s", s.Status, oneLine(s.Body))
	case "error":
		if s.Body != "" {
			return "ERROR " + s.Text + "\n" + indent(s.Body)
		}
		return "ERROR " + s.Text
	case "redirect":
		return fmt.Sprintf("redirected (%d) to %s %s", s.Status, s.Method, s.URL)
	case "warning":
		return "WARNING " + s.Text
	case "wait":
		return "waiting for the caller: " + s.Text
	case "end":
		return "call ends: " + s.Text
	}
	return s.Text
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, `<?xml version="1.0" encoding="UTF-8"?>`)
	return strings.Join(strings.Fields(s), " ")
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "          | " + l
	}
	return strings.Join(lines, "\n")
}
