package main

// Every ```lua example in docs/lua-api.md runs as a script on a real
// "dialua serve" and is compared with what the page says it gives:
//
//   - a `--> <Verb .../>` comment (on the line, or on the lines after a call
//     that spans several) is XML the answer must contain, in that order;
//   - a `--> "text"`, `--> 12`, `--> true` (a Lua literal, maybe followed by
//     words) after `local x = ...` or after an expression becomes an
//     assertion on that value; `--> {...}` or `--> [...]` on a local is
//     compared with tostring of it;
//   - other `-->` notes ("adds 10") are prose, not checked;
//   - the script must answer 200 with a valid Call Interactive document.
//
// A block preceded by `<!-- not run: reason -->` is skipped.

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dialua/dialua/runtime/protocol"
)

// luaBlock is one example: its code and the line of the page it starts on.
type luaBlock struct {
	line int
	code []string
}

func luaBlocks(t *testing.T, page string) []luaBlock {
	t.Helper()
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	var out []luaBlock
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```lua" {
			continue
		}
		skip := i > 0 && strings.HasPrefix(strings.TrimSpace(lines[i-1]), "<!-- not run:")
		blk := luaBlock{line: i + 2}
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			blk.code = append(blk.code, lines[i])
		}
		if !skip {
			out = append(out, blk)
		}
	}
	return out
}

var (
	arrowRe   = regexp.MustCompile(`^(\s*)(.*?)\s*-->\s*(.*)$`)
	localRe   = regexp.MustCompile(`^local\s+([A-Za-z_]\w*)`)
	literalRe = regexp.MustCompile(`^("[^"]*"|-?\d+(?:\.\d+)?|true|false|nil)(?:\s|$|[,;(])`)
)

// instrument turns a block into a script with its assertions, and lists
// the XML its answer must hold.
func instrument(blk luaBlock) (string, []string) {
	var code, xml []string
	for i, l := range blk.code {
		line := blk.line + i
		m := arrowRe.FindStringSubmatch(l)
		if m == nil || strings.HasPrefix(strings.TrimSpace(l), "--") && !strings.HasPrefix(strings.TrimSpace(l), "-->") {
			code = append(code, l)
			continue
		}
		stmt, note := m[2], strings.TrimSpace(m[3])
		code = append(code, m[1]+stmt)
		if strings.HasPrefix(note, "<") {
			xml = append(xml, note)
			continue
		}
		if stmt == "" {
			continue
		}
		where := fmt.Sprintf("lua-api.md line %d", line)
		if lm := localRe.FindStringSubmatch(stmt); lm != nil {
			name := lm[1]
			if lit := literalRe.FindStringSubmatch(note); lit != nil {
				code = append(code, fmt.Sprintf("assert(%s == %s, %q .. ': got ' .. tostring(%s))", name, lit[1], where, name))
			} else if strings.HasPrefix(note, "{") || strings.HasPrefix(note, "[") {
				code = append(code, fmt.Sprintf("assert(tostring(%s) == %q, %q .. ': got ' .. tostring(%s))", name, note, where, name))
			}
			continue
		}
		if lit := literalRe.FindStringSubmatch(note); lit != nil && !strings.HasPrefix(stmt, "print(") {
			code[len(code)-1] = fmt.Sprintf("%sdo local __v = (%s); assert(__v == %s, %q .. ': got ' .. tostring(__v)) end", m[1], stmt, lit[1], where)
		}
	}
	return strings.Join(code, "\n") + "\n", xml
}

func TestLuaAPIDocExamples(t *testing.T) {
	blocks := luaBlocks(t, "../../docs/lua-api.md")
	if len(blocks) < 15 {
		t.Fatalf("found %d lua examples in docs/lua-api.md; the extractor is broken", len(blocks))
	}
	dir := t.TempDir()
	files := map[string]string{
		"tenants.yaml": "tenants:\n  docs:\n    http:\n      allow: [api.acme-crm.com]\n      timeout: 200ms\n    env:\n      CRM_URL: https://api.acme-crm.com/v2\n      CRM_API_KEY: sk_docs_example\n",
	}
	want := map[string][]string{}
	for i, blk := range blocks {
		name := fmt.Sprintf("ex%02d_line%d", i, blk.line)
		script, xml := instrument(blk)
		files["scripts/docs/"+name+".lua"] = script
		want[name] = xml
	}
	writeFiles(t, dir, files)
	// Modules the examples require.
	writeFiles(t, dir, map[string]string{
		"scripts/docs/lib/subscriptions.lua": "return {[\"934924\"] = {name = \"Alice\", tier = \"gold\"}}\n",
		"scripts/docs/lib/prices.lua":        "return {gold = 10}\n",
	})
	s := startServe(t, "--scripts", filepath.Join(dir, "scripts"), "--tenants", filepath.Join(dir, "tenants.yaml"))
	client := newClient()
	for i, blk := range blocks {
		name := fmt.Sprintf("ex%02d_line%d", i, blk.line)
		t.Run(name, func(t *testing.T) {
			q := url.Values{
				"CallID": {"docs-" + name}, "CallerIDNum": {"0040741234567"}, "CallerIDName": {"Ann"},
				"CallStatus": {"ANSWER"}, "CallFlow": {"IN"}, "subscription_code": {"934924"},
				"activationCode": {"42"}, "digit": {"1"},
			}
			resp, err := client.Get(s.base + "/docs/" + name + "?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("docs/lua-api.md example at line %d: HTTP %d; the server said:\n%s\nthe script:\n%s", blk.line, resp.StatusCode, lastLines(s.stderr.String(), 6), strings.Join(blk.code, "\n"))
			}
			if _, err := protocol.Decode(body); err != nil {
				t.Fatalf("docs/lua-api.md example at line %d: answer is not a valid document: %v\n%s", blk.line, err, body)
			}
			rest := string(body)
			for _, x := range want[name] {
				i := strings.Index(rest, x)
				if i < 0 {
					t.Errorf("docs/lua-api.md example at line %d shows %s, the answer (from there on) is %s", blk.line, x, rest)
					break
				}
				rest = rest[i+len(x):]
			}
		})
	}
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
