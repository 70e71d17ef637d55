package luaapi_test

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dialua/dialua/luaapi"
	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/testkit"
)

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

func TestLogAndEnvModules(t *testing.T) {
	e := testkit.NewEngine(t, testkit.Scripts(t, map[string]string{
		"a/x.lua": `
log.info("checking subscription", {code = "934924", attempt = 2, ok = true})
log.warn("key is " .. env.API_KEY)
print("print also hides " .. env.API_KEY)
for i = 1, 5 do log.info(string.rep("a", 8180) .. env.API_KEY, {[env.API_KEY] = true}) end
response:set_var("key", env.API_KEY)
response:set_var("missing", tostring(env.NOPE))`,
		"b/x.lua": `response:set_var("key", tostring(env.API_KEY))`,
		"tenants.yaml": `
tenants:
  a:
    env: {API_KEY: "sk-live-123456", STAGE: "sk-live"}
  b: {}
`,
	}), engine.Options{})
	got := e.Vars(t, "/a/x", "CallID", "c42")
	if got["key"] != "sk-live-123456" || got["missing"] != "nil" {
		t.Errorf("tenant a env: %v", got)
	}
	if got := e.Vars(t, "/b/x"); got["key"] != "nil" {
		t.Errorf("tenant b reads tenant a's env: %v", got)
	}
	info := e.Logs.Records("checking subscription")
	fields := map[string]any{}
	if len(info) == 1 {
		fields, _ = info[0]["fields"].(map[string]any)
	}
	if len(info) != 1 || info[0]["tenant"] != "a" || info[0]["script"] != "x" || info[0]["call_id"] != "c42" ||
		fields["code"] != "934924" || fields["attempt"] != 2.0 || fields["ok"] != true || info[0]["level"] != "INFO" {
		t.Errorf("log.info record: %v", info)
	}
	all := e.Logs.String()
	if strings.Contains(all, "sk-live") || strings.Contains(all, "123456") {
		t.Errorf("a secret reached the log:\n%s", all)
	}
	if len(e.Logs.Records("key is [redacted]")) != 1 {
		t.Errorf("log.warn not redacted as expected:\n%s", all)
	}
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
	e := testkit.NewEngine(t, testkit.Scripts(t, files), engine.Options{Timeout: 5 * time.Second})
	for name := range floods {
		t.Run(name, func(t *testing.T) {
			e.Verbs(t, "/"+name+"/x", "CallID", strings.Repeat("\x01", 200))
			size, warnings := 0, 0
			lines := e.Logs.RunLines(name)
			for _, line := range lines {
				size += len(line) + 1
				if bytes.Contains(line, []byte("log budget used up")) {
					warnings++
				}
			}
			t.Logf("%d bytes in %d lines", size, len(lines))
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
	e := testkit.NewEngine(t, testkit.Scripts(t, map[string]string{
		"a/x.lua": `
log.info("hello", {tenant = "other", level = "ERROR", call_id = "forged", msg = "forged",
  time = "forged", script = "forged", fields = "forged", source = "forged", [""] = "empty"})
print("forged print")`,
	}), engine.Options{})
	e.Verbs(t, "/a/x", "CallID", "real1")
	lines := e.Logs.RunLines("a")
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
	hello := e.Logs.Records("hello")
	if len(hello) != 1 {
		t.Fatalf("log.info line: %v", hello)
	}
	f, _ := hello[0]["fields"].(map[string]any)
	if f["tenant"] != "other" || f["msg"] != "forged" || f["fields"] != "forged" || f[""] != "empty" {
		t.Errorf("the script's fields are not kept under fields: %v", hello[0])
	}
	prints := e.Logs.Records("script print")
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

// TestSecretsAreRedactedInEscapedForms: a secret with quotes, a backslash,
// a slash, control characters, a space and non-ASCII is redacted however
// the script escaped it before logging it: Lua's %q, json.encode, URL
// escaping (query and path, either hex case).
func TestSecretsAreRedactedInEscapedForms(t *testing.T) {
	e := testkit.NewEngine(t, testkit.Scripts(t, map[string]string{
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
	e.Verbs(t, "/a/x")
	lines := e.Logs.RunLines("a")
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
