package main

// Every ```yaml example of the docs is fed to the command that reads such a
// file, so an example that stops parsing, or an IVR that stops walking
// through the bundled scripts, fails the tests:
//
//   - an IVR file (a top-level `contexts:`) is walked with `dialua call`
//     against the bundled scripts and must end without an error;
//   - a scenario file (a top-level `scenarios:`) is written beside the last
//     IVR example of its page, under the name its `ivr:` gives, and run with
//     `dialua test`: every scenario must pass;
//   - a tenants file (a top-level `tenants:` or `defaults:`) must pass
//     `dialua check --tenants`;
//   - a settings file (docs/operations.md's `--config` example) must be
//     accepted by `dialua serve --config F --print-config`.
//
// A block preceded by `<!-- not run: reason -->` is skipped (a shortened
// certificate, a file for another program); any other block fails the
// test, so no example goes unchecked.

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

type yamlBlock struct {
	line int
	text string
}

func yamlBlocks(t *testing.T, page string) []yamlBlock {
	t.Helper()
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	var out []yamlBlock
	lines := strings.Split(string(b), "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) != "```yaml" {
			continue
		}
		indent := lines[i][:len(lines[i])-len(strings.TrimLeft(lines[i], " "))]
		skip := i > 0 && strings.HasPrefix(strings.TrimSpace(lines[i-1]), "<!-- not run:")
		blk := yamlBlock{line: i + 2}
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, strings.TrimPrefix(lines[i], indent))
		}
		blk.text = strings.Join(body, "\n") + "\n"
		if !skip {
			out = append(out, blk)
		}
	}
	return out
}

var (
	topKeyRe  = regexp.MustCompile(`(?m)^([a-z_]+):`)
	ivrNameRe = regexp.MustCompile(`(?m)^ivr:\s*(\S+)`)
)

// yamlKind tells what file a block is an example of, by its top-level keys.
func yamlKind(text string) string {
	keys := map[string]bool{}
	for _, m := range topKeyRe.FindAllStringSubmatch(text, -1) {
		keys[m[1]] = true
	}
	switch {
	case keys["contexts"]:
		return "ivr"
	case keys["scenarios"]:
		return "scenarios"
	case keys["listen"] || keys["scripts"]:
		return "config"
	case keys["tenants"] || keys["defaults"]:
		return "tenants"
	}
	return ""
}

func TestYAMLDocExamples(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	scripts := filepath.Join(root, "scripts")
	pages := []string{"docs/ivr.md", "docs/tenants.md", "docs/admin.md", "docs/operations.md"}
	checked := 0
	for _, page := range pages {
		dir := t.TempDir()
		lastIVR := ""
		for _, blk := range yamlBlocks(t, filepath.Join(root, page)) {
			where := page + " line " + strconv.Itoa(blk.line)
			file := filepath.Join(dir, "line"+strconv.Itoa(blk.line)+".yaml")
			checked++
			switch yamlKind(blk.text) {
			case "ivr":
				lastIVR = blk.text
				writeFiles(t, dir, map[string]string{filepath.Base(file): blk.text})
				if r := runDialua(t, dir, "call", "--scripts", scripts, "--ivr", file); r.code != 0 {
					t.Errorf("%s: the IVR example does not walk (exit %d):\n%s%s", where, r.code, r.stdout, r.stderr)
				}
			case "scenarios":
				m := ivrNameRe.FindStringSubmatch(blk.text)
				if m == nil || lastIVR == "" {
					t.Errorf("%s: a scenario example needs an `ivr:` and an IVR example before it on the page", where)
					continue
				}
				sub := filepath.Join(dir, "scenarios"+strconv.Itoa(blk.line))
				writeFiles(t, sub, map[string]string{m[1]: lastIVR, "example.test.yaml": blk.text})
				if r := runDialua(t, dir, "test", "--scripts", scripts, sub); r.code != 0 {
					t.Errorf("%s: the scenario example fails (exit %d):\n%s%s", where, r.code, r.stdout, r.stderr)
				}
			case "tenants":
				writeFiles(t, dir, map[string]string{filepath.Base(file): blk.text})
				if r := runDialua(t, dir, "check", "--tenants", file); r.code != 0 {
					t.Errorf("%s: dialua check --tenants refuses the example (exit %d):\n%s%s", where, r.code, r.stdout, r.stderr)
				}
			case "config":
				writeFiles(t, dir, map[string]string{filepath.Base(file): blk.text})
				if r := runDialua(t, dir, "serve", "--config", file, "--print-config"); r.code != 0 {
					t.Errorf("%s: dialua serve --config refuses the example (exit %d):\n%s", where, r.code, r.stderr)
				}
			default:
				t.Errorf("%s: not an IVR, scenario, tenants or settings file; mark it <!-- not run: reason -->", where)
			}
		}
	}
	if checked < 6 {
		t.Fatalf("only %d yaml examples found; the extractor is broken", checked)
	}
}
