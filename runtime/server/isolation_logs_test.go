package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dialua/dialua/luaapi"
	"github.com/dialua/dialua/runtime/engine"
)

// linesOf returns the raw JSON log lines of tenant's runs: a top-level
// tenant of that name and a call_id (lines about the tenant's files, such
// as compiles, have none).
func (l *logBuffer) linesOf(tenant string) [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(l.buf.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			continue
		}
		if _, run := rec["call_id"]; run && rec["tenant"] == tenant {
			out = append(out, append([]byte(nil), sc.Bytes()...))
		}
	}
	return out
}

// topKeys lists the keys of a JSON object line in order, repeats included
// (a map would keep only the last of a repeated key).
func topKeys(t *testing.T, line []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", line)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// TestLogBudgetCountsWhatIsWritten: a run that floods the log through
// big, escaped and many fields, long keys, long messages and print writes
// at most MaxLogRun bytes of log lines, the budget warning included.
func TestLogBudgetCountsWhatIsWritten(t *testing.T) {
	floods := map[string]string{
		// Every byte of these is written as \u0001 or \": six and two
		// bytes of log per byte of script text.
		"fields": `local v = string.rep("\1", 1024) local f = {}
			for i = 1, 32 do f[string.format("%02d", i) .. string.rep('"', 62)] = v end
			for i = 1, 500 do log.info(string.rep('"', 8192), f) end`,
		"many": `local f = {} for i = 1, 32 do f["k" .. i] = i end
			for i = 1, 5000 do log.warn("x", f) end`,
		"print": `for i = 1, 500 do print(string.rep("\0", 8192)) end`,
		"empty": `for i = 1, 100000 do print() log.info("") end`,
		"mixed": `local f = {} for i = 1, 32 do f[string.rep("k", 100) .. i] = string.rep("\127", 2000) end
			for i = 1, 300 do print(string.rep("\n", 9000)) log.error(string.rep("\31", 9000), f) end`,
	}
	files := map[string]string{}
	for name, src := range floods {
		files[name+"/x.lua"] = src + "\nresponse:hangup()"
	}
	s := start(t, scriptsDir(t, files), engine.Options{Timeout: 5 * time.Second})
	for name := range floods {
		t.Run(name, func(t *testing.T) {
			s.get("/" + name + "/x?CallID=" + url.QueryEscape(strings.Repeat("\x01", 200))).verbs(t)
			size, warnings := 0, 0
			for _, line := range s.logs.linesOf(name) {
				size += len(line) + 1
				if bytes.Contains(line, []byte("log budget used up")) {
					warnings++
				}
			}
			t.Logf("%d bytes in %d lines", size, len(s.logs.linesOf(name)))
			if size > luaapi.MaxLogRun {
				t.Errorf("the run wrote %d bytes of log, budget %d", size, luaapi.MaxLogRun)
			}
			if size < luaapi.MaxLogRun/2 {
				t.Errorf("the run wrote only %d bytes of log; the flood should fill most of the budget", size)
			}
			if warnings != 1 {
				t.Errorf("%d budget warnings, want 1", warnings)
			}
		})
	}
}

// TestScriptFieldsCannotForgeReservedKeys: a field named like one of
// dialua's keys stays in "fields"; the line's own time, level, msg,
// tenant, script and call_id are dialua's, each once.
func TestScriptFieldsCannotForgeReservedKeys(t *testing.T) {
	s := start(t, scriptsDir(t, map[string]string{
		"a/x.lua": `
log.info("hello", {tenant = "other", level = "ERROR", call_id = "forged", msg = "forged",
  time = "forged", script = "forged", fields = "forged", source = "forged", [""] = "empty"})
print("forged print")`,
	}), engine.Options{})
	s.get("/a/x?CallID=real1").verbs(t)
	lines := s.logs.linesOf("a")
	if len(lines) != 2 {
		t.Fatalf("%d lines of tenant a, want 2: %s", len(lines), lines)
	}
	for _, line := range lines {
		seen := map[string]int{}
		for _, k := range topKeys(t, line) {
			seen[k]++
		}
		for _, k := range []string{"time", "level", "msg", "tenant", "script", "call_id"} {
			if seen[k] != 1 {
				t.Errorf("key %q %d times at the top of %s", k, seen[k], line)
			}
		}
		var rec map[string]any
		json.Unmarshal(line, &rec)
		if rec["tenant"] != "a" || rec["script"] != "x" || rec["call_id"] != "real1" || rec["level"] != "INFO" {
			t.Errorf("dialua's keys were replaced: %s", line)
		}
		if _, err := time.Parse(time.RFC3339Nano, rec["time"].(string)); err != nil {
			t.Errorf("time %q: %v", rec["time"], err)
		}
	}
	hello := s.logs.records("hello")
	if len(hello) != 1 {
		t.Fatalf("log.info line: %v", hello)
	}
	f, _ := hello[0]["fields"].(map[string]any)
	if f["tenant"] != "other" || f["msg"] != "forged" || f["fields"] != "forged" || f[""] != "empty" {
		t.Errorf("the script's fields are not kept under fields: %v", hello[0])
	}
	prints := s.logs.records("script print")
	if len(prints) != 1 {
		t.Fatalf("print line: %s", lines)
	}
	text := prints[0]["text"]
	if f, ok := prints[0]["fields"].(map[string]any); ok && text == nil {
		text = f["msg"]
	}
	if text != "forged print" {
		t.Errorf("printed text not found: %v", prints[0])
	}
}

// TestRequestValuesAreBoundedInTheLog: a CallID of 15 KB, and an error
// whose location a script wrote, make log lines of a few KB, not 15.
func TestRequestValuesAreBoundedInTheLog(t *testing.T) {
	s := start(t, scriptsDir(t, map[string]string{
		"a/fail.lua":  `log.info("before") error("boom")`,
		"a/where.lua": `error(string.rep("w", 10000) .. ".lua:1: boom", 0)`,
	}), engine.Options{})
	id := strings.Repeat("c", 15000)
	s.post("/a/fail", url.Values{"CallID": {id}}).wantEmptyError(t, 500)
	s.post("/a/where", url.Values{"CallID": {id}}).wantEmptyError(t, 500)
	lines := s.logs.linesOf("a")
	if len(lines) != 3 {
		t.Fatalf("%d lines, want 3", len(lines))
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

// TestSecretsAreRedactedInEscapedForms: a secret with quotes, a backslash,
// a slash, control characters, a space and non-ASCII is redacted however
// the script escaped it before logging it: Lua's %q, json.encode, URL
// escaping (query and path, either hex case).
func TestSecretsAreRedactedInEscapedForms(t *testing.T) {
	s := start(t, scriptsDir(t, map[string]string{
		"a/x.lua": `
local s = env.SECRET
local function esc(str, hex, keep)
  return (str:gsub("[^%w%-_%.~" .. keep .. "]", function(c) return string.format(hex, c:byte()) end))
end
log.info("q " .. string.format("%q", s))
log.info("j " .. json.encode(s))
log.info("jt " .. json.encode({k = s, n = 1}))
log.info("uq " .. esc(s, "%%%02X", ""))
log.info("ul " .. esc(s, "%%%02x", ""))
log.info("plus " .. (esc(s, "%%%02X", " "):gsub(" ", "+")))
log.info("path " .. esc(s, "%%%02X", "%$&%+,/:;=@"))
log.info("pathl " .. esc(s, "%%%02x", "%$&%+,/:;=@"))
log.info("fields", {a = string.format("%q", s), b = json.encode(s), [json.encode(s)] = esc(s, "%%%02x", "")})
print("p " .. json.encode(s) .. " " .. string.format("%q", s))
log.info("cut " .. string.rep("x", 8170) .. json.encode(s)) -- the secret straddles the cut at 8192
`,
		"tenants.yaml": `
tenants:
  a:
    env: {SECRET: "p@ss \"w\u00f6rd\"\\/+&=\n\t\x01x"}
`,
	}), engine.Options{})
	s.get("/a/x").verbs(t)
	lines := s.logs.linesOf("a")
	if len(lines) != 11 {
		t.Fatalf("%d lines, want 11", len(lines))
	}
	// The middle of the secret in every spelling of its ö.
	middle := regexp.MustCompile(`w(ö|\\u00f6|%C3%B6|%c3%b6)rd`)
	var values []string
	var collect func(v any)
	collect = func(v any) {
		switch v := v.(type) {
		case string:
			values = append(values, v)
		case map[string]any:
			for k, x := range v {
				values = append(values, k)
				collect(x)
			}
		}
	}
	for _, line := range lines {
		if middle.Match(line) {
			t.Errorf("the secret reached the log: %s", line)
		}
		var rec map[string]any
		json.Unmarshal(line, &rec)
		values = values[:0]
		collect(rec)
		redactedSeen := false
		for _, v := range values {
			if middle.MatchString(v) || strings.Contains(v, "p@ss") || strings.Contains(v, "p%40ss") {
				t.Errorf("the secret reached the log in %q", v)
			}
			redactedSeen = redactedSeen || strings.Contains(v, "[redacted]")
		}
		if !redactedSeen {
			t.Errorf("no [redacted] in ...%s", line[max(0, len(line)-150):])
		}
	}
}

// TestSparseTableEncodingKeepsTheDeadline: json.encode of a table that
// shares one table of a million empty slots a hundred thousand times is
// refused in milliseconds, as is session.set of it (they used to scan 10^11
// slots, checking the deadline every 2*10^9, some ten seconds apart).
func TestSparseTableEncodingKeepsTheDeadline(t *testing.T) {
	s := start(t, scriptsDir(t, map[string]string{
		"a/enc.lua": `local s = {} s[1048575] = 1 s[1048575] = nil
local t = {} for i = 1, 1e5 do t[i] = s end
local _, err = json.encode(t)
response:set_var("err", tostring(err))
local ok, err2 = session.set("k", t)
response:set_var("serr", tostring(err2))`,
		"a/ok.lua": `response:hangup()`,
	}), engine.Options{Timeout: 3 * time.Second})
	begin := time.Now()
	got := vars(s.get("/a/enc").verbs(t))
	if d := time.Since(begin); d > time.Second {
		t.Errorf("answered after %v; the conversions should be refused in milliseconds", d)
	}
	if !strings.Contains(got["err"], "too costly") || got["serr"] == "nil" {
		t.Errorf("json.encode err %q, session.set err %q", got["err"], got["serr"])
	}
	s.get("/a/ok").verbs(t)
}
