package ivr

import (
	"context"
	"fmt"
	"github.com/dialua/dialua/runtime/internal/strictyaml"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// SuiteFile is a scenario file: one IVR and the calls to make through it.
// The format is documented in docs/ivr.md.
type SuiteFile struct {
	IVR       string     `yaml:"ivr"` // path relative to this file
	Scenarios []Scenario `yaml:"scenarios"`
	// Warnings are suspected mistakes in this file and in its IVR's, each
	// with the file and line.
	Warnings []string `yaml:"-"`
}

// Scenario is one simulated call and what must come of it.
type Scenario struct {
	Name   string `yaml:"name"`
	Caller Caller `yaml:"caller"`
	Expect Expect `yaml:"expect"`
}

// Expect lists what a scenario checks; anything left out is not checked.
type Expect struct {
	// Heard: sounds (folder/name) and "tts:<text>" in the order the caller
	// heard them, all of them.
	Heard []string `yaml:"heard"`
	// Requests: each Call Interactive request, "METHOD url" with the URL as
	// configured after $variable substitution (default parameters left out).
	Requests []string `yaml:"requests"`
	// Vars: variables and their values at the end of the call (others may
	// exist too).
	Vars map[string]string `yaml:"vars"`
	// End: hangup, ended, error, loop, "transfer <dest>" or "queue <name>".
	End string `yaml:"end"`
	// Errors allows error steps (failed requests, non-200 answers, invalid
	// responses); without it any error fails the scenario.
	Errors bool `yaml:"errors"`
}

// Result is the verdict on one scenario.
type Result struct {
	File       string
	Name       string
	Diffs      []string
	Transcript *Transcript
}

// Passed reports whether every expectation held.
func (r *Result) Passed() bool { return len(r.Diffs) == 0 }

// LoadSuite reads a scenario file and the IVR it names.
func LoadSuite(path string) (*SuiteFile, *IVR, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var s SuiteFile
	if err := strictyaml.Decode(b, &s); err != nil {
		return nil, nil, fmt.Errorf("%s: %v", path, err)
	}
	if s.IVR == "" {
		return nil, nil, fmt.Errorf("%s: no ivr: name the IVR file these scenarios call", path)
	}
	if len(s.Scenarios) == 0 {
		return nil, nil, fmt.Errorf("%s: no scenarios", path)
	}
	for i, sc := range s.Scenarios {
		if err := sc.Caller.Check(); err != nil {
			return nil, nil, fmt.Errorf("%s: scenario %d (%s): %v", path, i+1, sc.Name, err)
		}
	}
	for _, w := range commentWarnings(b, "digits") {
		s.Warnings = append(s.Warnings, path+": "+w)
	}
	ivrPath := filepath.Join(filepath.Dir(path), s.IVR)
	ivr, err := Load(ivrPath)
	if err != nil {
		return nil, nil, err
	}
	for _, w := range ivr.Warnings {
		s.Warnings = append(s.Warnings, ivrPath+": "+w)
	}
	return &s, ivr, nil
}

// RunSuite runs every scenario of a file, and returns the file's warnings
// (SuiteFile.Warnings) with the results.
func RunSuite(ctx context.Context, path string, opts Options) ([]Result, []string, error) {
	s, ivr, err := LoadSuite(path)
	if err != nil {
		return nil, nil, err
	}
	var out []Result
	for i, sc := range s.Scenarios {
		name := sc.Name
		if name == "" {
			name = fmt.Sprintf("scenario %d", i+1)
		}
		tr := Run(ctx, ivr, sc.Caller, opts)
		out = append(out, Result{File: path, Name: name, Transcript: tr, Diffs: sc.Expect.check(tr)})
	}
	return out, s.Warnings, nil
}

// check compares a transcript with the expectations.
func (e *Expect) check(tr *Transcript) []string {
	var diffs []string
	if e.Heard != nil {
		if d := listDiff("heard", e.Heard, tr.Heard); d != "" {
			diffs = append(diffs, d)
		}
	}
	if e.Requests != nil {
		if d := listDiff("requests", e.Requests, tr.Requests); d != "" {
			diffs = append(diffs, d)
		}
	}
	names := make([]string, 0, len(e.Vars))
	for k := range e.Vars {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		got, ok := tr.Vars[k]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("variable %s: want %q, never set", k, e.Vars[k]))
		case got != e.Vars[k]:
			diffs = append(diffs, fmt.Sprintf("variable %s: want %q, got %q", k, e.Vars[k], got))
		}
	}
	if e.End != "" && e.End != tr.Outcome.String() {
		diffs = append(diffs, fmt.Sprintf("end: want %q, got %q (%s)", e.End, tr.Outcome.String(), tr.Outcome.Reason))
	}
	if !e.Errors {
		for _, s := range tr.Steps {
			if s.Kind == "error" {
				diffs = append(diffs, fmt.Sprintf("unexpected error at %.1fs %s: %s", s.T, s.At, s.Text))
			}
		}
	}
	return diffs
}

// listDiff shows two lists side by side from the first difference on.
func listDiff(what string, want, got []string) string {
	n := len(want)
	if len(got) > n {
		n = len(got)
	}
	first := -1
	for i := 0; i < n; i++ {
		if i >= len(want) || i >= len(got) || want[i] != got[i] {
			first = i
			break
		}
	}
	if first < 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s differ from item %d:", what, first+1)
	for i := first; i < n; i++ {
		w, g := "(nothing)", "(nothing)"
		if i < len(want) {
			w = fmt.Sprintf("%q", want[i])
		}
		if i < len(got) {
			g = fmt.Sprintf("%q", got[i])
		}
		mark := " "
		if w != g {
			mark = "!"
		}
		fmt.Fprintf(&b, "\n    %s %d. want %s\n         got  %s", mark, i+1, w, g)
	}
	return b.String()
}

// FindSuites expands files and folders into scenario files (*.test.yaml),
// sorted.
func FindSuites(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			out = append(out, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(d.Name(), ".test.yaml") {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(out)
	return out, nil
}
