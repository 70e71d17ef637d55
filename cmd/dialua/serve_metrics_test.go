package main

import (
	"strings"
	"testing"
)

// Metrics end to end through the binary: on --metrics' own listener, and
// on the admin listener with --admin (where --metrics is not needed).
func TestServeMetricsListeners(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"acme/ivr.lua": `response:hangup()`})
	for _, c := range []struct {
		name string
		flag string
	}{{"metrics", "--metrics"}, {"admin", "--admin"}} {
		t.Run(c.name, func(t *testing.T) {
			addr := freePort(t)
			s := startServe(t, "--scripts", root, "--data", t.TempDir(), c.flag, addr)
			for range 3 {
				if code, _ := getText(t, s.base+"/acme/ivr?CallID=m1"); code != 200 {
					t.Fatalf("script: %d", code)
				}
			}
			getText(t, s.base+"/acme/missing")
			code, body := getText(t, "http://"+addr+"/metrics")
			if code != 200 {
				t.Fatalf("/metrics: %d %s", code, body)
			}
			for _, want := range []string{
				`dialua_requests_total{event="interactive",status="2xx",tenant="acme"} 3`,
				`dialua_requests_total{event="interactive",status="4xx",tenant="acme"} 1`,
				`dialua_runs_total{outcome="not_found"} 1`,
				"dialua_vms ",
				"go_goroutines ",
				"go_sched_latencies_seconds_bucket{",
			} {
				if !strings.Contains(body, want) {
					t.Errorf("/metrics lacks %q", want)
				}
			}
			if t.Failed() {
				t.Logf("/metrics:\n%s", body)
			}
			// Never on the IVR listener: a tenant's URL space.
			if code, _ := getText(t, s.base+"/metrics"); code == 200 {
				t.Errorf("/metrics answered 200 on the IVR listener")
			}
		})
	}
}
