package server

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/testkit"
)

// TestRequestValuesAreBoundedInTheLog: a CallID of 15 KB, and an error
// whose location a script wrote, make log lines of a few KB, not 15.
func TestRequestValuesAreBoundedInTheLog(t *testing.T) {
	s := start(t, testkit.Scripts(t, map[string]string{
		"a/fail.lua":  `log.info("before") error("boom")`,
		"a/where.lua": `error(string.rep("w", 10000) .. ".lua:1: boom", 0)`,
	}), engine.Options{})
	id := strings.Repeat("c", 15000)
	s.post("/a/fail", url.Values{"CallID": {id}}).wantEmptyError(t, 500)
	s.post("/a/where", url.Values{"CallID": {id}}).wantEmptyError(t, 500)
	// The script's line, two "script failed" lines and two access-log
	// lines, every one bounded.
	lines := s.logs.RunLines("a")
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5", len(lines))
	}
	for _, line := range lines {
		var rec map[string]any
		json.Unmarshal(line, &rec)
		cid, _ := rec["call_id"].(string)
		if !strings.HasPrefix(cid, "ccc") || len(cid) > 128+len("...[truncated]") {
			t.Errorf("call_id of %d bytes in %q", len(cid), rec["msg"])
		}
		if loc, _ := rec["location"].(string); len(loc) > 300 {
			t.Errorf("location of %d bytes", len(loc))
		}
		if len(line) > 4096 {
			t.Errorf("a line of %d bytes: %.200s", len(line), line)
		}
	}
}
