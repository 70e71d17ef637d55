// Package examples holds the IVR walk-throughs of the seed scenarios. Its
// test runs every scenario file against the bundled scripts, so `go test
// ./...` proves each example call still goes the way its file says.
package examples

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dialua/dialua/examples/backend"
	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/ivr"
	"github.com/dialua/dialua/runtime/server"
)

// TestExampleScenarios runs every scenario with the example's subscriptions
// backend on a loopback port, as a customer's CRM would be, and checks the
// support script really asked it.
func TestExampleScenarios(t *testing.T) {
	crm := &backend.Server{}
	api := httptest.NewServer(crm)
	defer api.Close()
	tenants := filepath.Join(t.TempDir(), "tenants.yaml")
	host := strings.TrimPrefix(api.URL, "http://")
	if err := os.WriteFile(tenants, []byte(`
tenants:
  demo:
    http: {allow: ["`+host+`"], timeout: 500ms}
    env: {SUBSCRIPTIONS_API: "`+api.URL+`"}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	lb, err := server.StartLoopback(engine.Options{ScriptsDir: "../scripts", TenantsFile: tenants, Dev: true}, log)
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
		results, warnings, err := ivr.RunSuite(context.Background(), f, ivr.Options{BaseURL: lb.URL, Strict: true})
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		for _, w := range warnings {
			t.Errorf("bundled example has a warning: %s", w)
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
	if crm.Lookups.Load() == 0 {
		t.Error("the support scenarios never asked the subscriptions backend")
	}
}
