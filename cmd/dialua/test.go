package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/dialua/dialua/runtime/ivr"
)

// testCmd runs scenario files and reports each scenario as PASS or FAIL.
func testCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base, scripts := serverFlags(fs)
	verbose := fs.Bool("v", false, "print the transcript of every scenario, not only of failures")
	strict := fs.Bool("strict", false, "a 200 answer that is not XML fails the scenario (default: a warning, and the call carries on)")
	const usage = "usage: dialua test [--url BASE] [--scripts DIR] [-v] [PATH...]\n\nRuns every *.test.yaml file under the PATHs (default ./examples).\n"
	paths, code, done := parseArgs(fs, "test", args, usage, stdout, stderr)
	if done {
		return code
	}
	if len(paths) == 0 {
		paths = []string{"examples"}
	}
	files, err := ivr.FindSuites(paths)
	if err != nil {
		fmt.Fprintf(stderr, "dialua test: %v\n", err)
		return 2
	}
	if len(files) == 0 {
		fmt.Fprintf(stderr, "dialua test: no *.test.yaml files under %s\n", strings.Join(paths, ", "))
		return 2
	}
	url, stop, err := target(*base, *scripts, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "dialua test: %v\n", err)
		return 2
	}
	defer stop()
	passed, failed := 0, 0
	for _, f := range files {
		results, warnings, err := ivr.RunSuite(context.Background(), f, ivr.Options{BaseURL: url, Strict: *strict})
		for _, w := range warnings {
			fmt.Fprintf(stderr, "dialua test: warning: %s\n", w)
		}
		if err != nil {
			fmt.Fprintf(stdout, "FAIL %s: %v\n", f, err)
			failed++
			continue
		}
		for _, r := range results {
			if r.Passed() {
				passed++
				fmt.Fprintf(stdout, "PASS %s: %s\n", r.File, r.Name)
				if *verbose {
					writeIndented(stdout, r.Transcript)
				}
				continue
			}
			failed++
			fmt.Fprintf(stdout, "FAIL %s: %s\n", r.File, r.Name)
			for _, d := range r.Diffs {
				fmt.Fprintf(stdout, "  %s\n", d)
			}
			writeIndented(stdout, r.Transcript)
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}

// writeIndented prints a transcript with every line indented under its
// scenario's verdict.
func writeIndented(w io.Writer, tr *ivr.Transcript) {
	var b strings.Builder
	tr.WriteText(&b)
	s := strings.TrimSuffix(b.String(), "\n")
	io.WriteString(w, "    | "+strings.ReplaceAll(s, "\n", "\n    | ")+"\n")
}
