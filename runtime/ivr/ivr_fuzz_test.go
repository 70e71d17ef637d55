package ivr

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Fuzz targets for the IVR and scenario file parsers. Seeds (the bundled
// examples, the docs' snippets) live in testdata/fuzz/<Name>/ and run with
// plain `go test`; fuzz one with e.g.
//
//	go test -run XXX -fuzz FuzzParse -fuzztime 60s -parallel 1 ./runtime/ivr/

// watchdog panics if stop is not called within d: a panic on another
// goroutine kills the fuzz worker, and the fuzzer records the input that hung
// as a crasher.
func watchdog(d time.Duration, what string) (stop func()) {
	t := time.AfterFunc(d, func() { panic(what + ": still running after " + d.String()) })
	return func() { t.Stop() }
}

// FuzzParse: Parse takes arbitrary bytes without panicking or hanging; an
// error comes with no IVR; an accepted IVR is one the walker can start: its
// entry context has a start option, the loop guard and timeout are set,
// every action has a known kind and every jump lands on an existing option.
func FuzzParse(f *testing.F) {
	f.Add([]byte("contexts: {Main: {start: [hangup]}}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		defer watchdog(5*time.Second, "Parse")()
		ivr, err := Parse(b)
		if err != nil {
			if ivr != nil {
				t.Fatalf("Parse returned an IVR with error %v", err)
			}
			return
		}
		entry := ivr.Contexts[ivr.Entry]
		if entry == nil || entry.Options["start"] == nil {
			t.Fatalf("accepted IVR whose entry %q has no start option", ivr.Entry)
		}
		if ivr.MaxSteps <= 0 || ivr.Timeout <= 0 {
			t.Fatalf("accepted IVR with max_steps %d, timeout %v", ivr.MaxSteps, ivr.Timeout)
		}
		for name, c := range ivr.Contexts {
			if c == nil {
				t.Fatalf("context %q is nil", name)
			}
			for opt, acts := range c.Options {
				for _, a := range acts {
					switch a.Kind {
					case ActPlay, ActTTS, ActRecord, ActMenu, ActSet, ActCaller, ActInteractive, ActPause, ActTransfer, ActQueue, ActHangup:
					case ActJump:
						if to := ivr.Contexts[a.Context]; to == nil || to.Options[a.Option] == nil {
							t.Fatalf("%s/%s: accepted jump to %s/%s, which does not exist", name, opt, a.Context, a.Option)
						}
					default:
						t.Fatalf("%s/%s: accepted action of kind %q", name, opt, a.Kind)
					}
				}
			}
		}
	})
}

// FuzzLoadSuite: a scenario file of arbitrary bytes, beside a valid IVR
// file, loads without panicking or hanging; an error comes with nothing
// else; an accepted file names its IVR and has scenarios.
func FuzzLoadSuite(f *testing.F) {
	f.Add([]byte("ivr: a.ivr.yaml\nscenarios: [{name: x, expect: {end: hangup}}]"))
	ivrFile, err := os.ReadFile("../../examples/support/support.ivr.yaml")
	if err != nil {
		f.Fatal(err)
	}
	// One folder per worker: the fuzz function runs one input at a time
	// in a worker, and a folder per input would make file creation the
	// bulk of the work.
	dir := f.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.ivr.yaml"), ivrFile, 0o644); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		// A scenario file may name any IVR path; keep the fuzzer to names
		// inside the test's folder, as reading a device file (ivr:
		// /dev/zero) would only test the operating system.
		if strings.Contains(string(b), "/dev") || strings.Contains(string(b), "/proc") {
			return
		}
		path := filepath.Join(dir, "s.test.yaml")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		defer watchdog(5*time.Second, "LoadSuite")()
		s, ivr, err := LoadSuite(path)
		if err != nil {
			if s != nil || ivr != nil {
				t.Fatalf("LoadSuite returned values with error %v", err)
			}
			if !strings.Contains(err.Error(), dir) {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		if s.IVR == "" || len(s.Scenarios) == 0 || ivr == nil {
			t.Fatalf("accepted suite %+v with IVR %v", s, ivr)
		}
	})
}
