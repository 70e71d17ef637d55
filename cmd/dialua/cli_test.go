package main

import (
	"regexp"
	"strings"
	"testing"
)

var oneDash = regexp.MustCompile(`(?m)^\s+-[a-z]`)

// Every command's -h and --help print its usage, with flags spelt --flag,
// to stdout and exit 0; "dialua help CMD" does the same.
func TestHelpForEveryCommand(t *testing.T) {
	for cmd := range commands {
		for _, args := range [][]string{{cmd, "-h"}, {cmd, "--help"}, {"help", cmd}} {
			r := runDialua(t, t.TempDir(), args...)
			if r.code != 0 || r.stderr != "" {
				t.Errorf("dialua %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, "usage: dialua "+cmd) {
				t.Errorf("dialua %s: no usage line in %q", strings.Join(args, " "), r.stdout)
			}
			if oneDash.MatchString(r.stdout) {
				t.Errorf("dialua %s: a flag spelt with one dash:\n%s", strings.Join(args, " "), r.stdout)
			}
		}
	}
	if r := runDialua(t, t.TempDir(), "help", "nonsense"); r.code != 2 || !strings.Contains(r.stderr, `unknown command "nonsense"`) {
		t.Errorf("help nonsense: %+v", r)
	}
	if r := runDialua(t, t.TempDir(), "serve", "--no-such-flag"); r.code != 2 || !strings.Contains(r.stderr, "no-such-flag") || r.stdout != "" {
		t.Errorf("a wrong flag: %+v", r)
	}
}

// --version and version print the same line, naming dialua.
func TestVersion(t *testing.T) {
	a := runDialua(t, t.TempDir(), "--version")
	b := runDialua(t, t.TempDir(), "version")
	if a.code != 0 || b.code != 0 || a.stdout != b.stdout || !strings.HasPrefix(a.stdout, "dialua ") {
		t.Errorf("--version %+v, version %+v", a, b)
	}
}

// Flags may follow positional arguments.
func TestFlagsAfterArguments(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"scripts/acme/ok.lua": "return", "scripts/acme/bad.lua": "return +"})
	r := runDialua(t, dir, "check", "scripts", "--help")
	if r.code != 0 || !strings.Contains(r.stdout, "usage: dialua check") {
		t.Errorf("check DIR --help: %+v", r)
	}
	r = runDialua(t, dir, "check", "scripts")
	if r.code != 1 || !strings.Contains(r.stdout, "acme/bad.lua:1:") {
		t.Errorf("check DIR: %+v", r)
	}
}
