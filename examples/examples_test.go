// Package examples holds the IVR walk-throughs of the seed scenarios. Its
// test runs every scenario file against the bundled scripts, so `go test
// ./...` proves each example call still goes the way its file says.
package examples

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/dialua/dialua/runtime"
	"github.com/dialua/dialua/runtime/ivr"
	"github.com/dialua/dialua/runtime/server"
)

func TestExampleScenarios(t *testing.T) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	lb, err := server.StartLoopback(runtime.Options{ScriptsDir: "../scripts"}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	files, err := ivr.FindSuites([]string{"."})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 4 {
		t.Fatalf("found %d scenario files, want one per seed scenario", len(files))
	}
	total := 0
	for _, f := range files {
		results, err := ivr.RunSuite(context.Background(), f, ivr.Options{BaseURL: lb.URL})
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		for _, r := range results {
			total++
			t.Run(f+"/"+r.Name, func(t *testing.T) {
				if !r.Passed() {
					var b strings.Builder
					r.Transcript.WriteText(&b)
					t.Errorf("%s\n%s", strings.Join(r.Diffs, "\n"), b.String())
				}
			})
		}
	}
	t.Logf("%d scenarios", total)
}
