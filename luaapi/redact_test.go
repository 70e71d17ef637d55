package luaapi

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// TestScrubLeavesNoPartOfASecret: secrets overlapping each other, repeated
// up to and across the cut, and in escaped forms leave none of their
// bytes in the result, and the result fits the log in n bytes.
func TestScrubLeavesNoPartOfASecret(t *testing.T) {
	const a, b = "sk-live-123456", "123456-tail-XYZ"
	const c3 = "tail/XYZ ok"
	rd := newRedactor(map[string]string{"A": a, "B": b, "C": c3, "short": "abc"})
	q, _ := json.Marshal("é\"" + a)
	for _, c := range []struct {
		in string
		n  int
	}{
		{"sk-live-123456-tail-XYZ", 100},           // a and b overlap
		{strings.Repeat(a, 50), 100},               // the cut falls in a run of secrets
		{strings.Repeat(".", 95) + a + "...", 100}, // a secret across the cut
		{strings.Repeat(a, 20) + strings.Repeat(".", 90) + a, 100},
		{"x" + string(q) + "y", 20},
		{"v=" + url.QueryEscape(a) + "&w=" + strings.ReplaceAll(url.QueryEscape(c3), "%2F", "%2f"), 50},
		{"p/" + url.PathEscape(c3), 50},
		{`"sk-live-\u0031\u0032\u0033456"`, 100},
		{"sk-live-12" + "\\" + "u0033456", 100}, // the escape is the secret's
	} {
		out := rd.scrub(c.in, c.n)
		if logLen(out)-2 > c.n+len(truncated) {
			t.Errorf("%q: %d bytes of log, cut at %d", out, logLen(out)-2, c.n)
		}
		for _, piece := range []string{"sk-l", "live", "-123", "3456", "tail", "XYZ"} {
			if strings.Contains(out, piece) {
				t.Errorf("scrub(%.40q, %d) = %q keeps %q", c.in, c.n, out, piece)
			}
		}
		if !strings.Contains(out, "[reda") { // the cut may fall inside it
			t.Errorf("scrub(%.40q) = %q: nothing redacted", c.in, out)
		}
	}
	if out := rd.scrub("abc and abcd", -1); out != "abc and abcd" {
		t.Errorf("a short value was redacted: %q", out)
	}
}

// TestScrubReadsABoundedPrefix: scrubbing a 4 MiB string for a short line
// reads only about n bytes of it, and the cut is marked.
func TestScrubReadsABoundedPrefix(t *testing.T) {
	rd := newRedactor(map[string]string{"A": "sk-live-123456"})
	big := strings.Repeat("y", 4<<20)
	out := rd.scrub(big, 64)
	if out != strings.Repeat("y", 64)+truncated {
		t.Errorf("%.100q", out)
	}
}
