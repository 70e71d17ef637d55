package metrics_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	dto "github.com/prometheus/client_model/go"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/metrics"
	"github.com/dialua/dialua/runtime/sandbox"
	"github.com/dialua/dialua/runtime/server"
	"github.com/dialua/dialua/runtime/session"
)

func TestMain(m *testing.M) {
	sandbox.LimitArrays()
	os.Exit(m.Run())
}

// scrape fetches url and parses it with Prometheus' text parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return mfs
}

// value is the sample of family name whose labels include want (a
// histogram's count); 0 when absent.
func value(mfs map[string]*dto.MetricFamily, name string, want ...string) float64 {
	mf := mfs[name]
	if mf == nil {
		return 0
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(want); i += 2 {
			if have[want[i]] != want[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return 0
}

// Real requests over loopback through the server and engine, then /metrics
// over real HTTP, parsed: the counters moved by what the requests did.
func TestScrapeAfterRequests(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "acme"), 0o755)
	write := func(name, src string) {
		if err := os.WriteFile(filepath.Join(dir, "acme", name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("ok.lua", `session.set("n", 1) response:hangup()`)
	write("bad.lua", `error("boom")`)
	m := metrics.New(metrics.Options{NoProcess: true})
	eng, err := engine.New(engine.Options{ScriptsDir: dir, Observer: m,
		Sessions: session.Observe(session.NewMemory(session.MemoryLimits{}), "memory", m)})
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close()
	m.SetStats(func() metrics.Stats {
		st := eng.Stats()
		return metrics.Stats{VMs: st.VMs, VMsInUse: st.VMsInUse, CacheEntries: st.Cache.Entries, CacheBytes: st.Cache.Bytes}
	})
	srv := server.New(server.Config{Engine: eng, Logger: slogDiscard(), Observer: m})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	scrapes := httptest.NewServer(m.Handler())
	defer scrapes.Close()
	base := "http://" + ln.Addr().String()
	get := func(path string, want int) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}

	before := scrape(t, scrapes.URL)
	for i := range 3 {
		get(fmt.Sprintf("/acme/ok?CallID=c%d&EventType=Dial-In", i), 200)
	}
	get("/acme/bad", 500)
	get("/acme/missing", 404)
	after := scrape(t, scrapes.URL)

	delta := func(name string, labels ...string) float64 {
		return value(after, name, labels...) - value(before, name, labels...)
	}
	checks := []struct {
		what string
		got  float64
		want float64
	}{
		{"3 dial-in 2xx requests of acme", delta("dialua_requests_total", "tenant", "acme", "status", "2xx", "event", "dial-in"), 3},
		{"1 5xx request of acme", delta("dialua_requests_total", "tenant", "acme", "status", "5xx", "event", "interactive"), 1},
		{"1 404, tenant acme", delta("dialua_requests_total", "tenant", "acme", "status", "4xx"), 1},
		{"runtime script errors", delta("dialua_script_errors_total", "kind", "runtime"), 1},
		{"compile script errors", delta("dialua_script_errors_total", "kind", "compile"), 0},
		{"runs ok", delta("dialua_runs_total", "outcome", "ok"), 3},
		{"runs not_found", delta("dialua_runs_total", "outcome", "not_found"), 1},
		{"run-duration observations of acme", delta("dialua_run_duration_seconds", "tenant", "acme"), 5},
		// ok: one miss then two hits; bad: one miss; missing: one miss.
		{"cache misses", delta("dialua_script_cache_misses_total"), 3},
		{"cache hits", delta("dialua_script_cache_hits_total"), 2},
		{"session sets", delta("dialua_session_operations_total", "backend", "memory", "op", "set"), 3},
		{"session errors", delta("dialua_session_errors_total", "backend", "memory"), 0},
		{"session latency observations", delta("dialua_session_operation_duration_seconds", "backend", "memory"), 3},
		{"cached entries (ok, bad)", value(after, "dialua_script_cache_entries"), 2},
		{"VMs in use between requests", value(after, "dialua_vms_in_use"), 0},
		{"tenants labeled", value(after, "dialua_metrics_tenant_labels"), 1},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: moved by %v, want %v", c.what, c.got, c.want)
		}
	}
	if value(after, "dialua_vms") != float64(eng.VMs()) {
		t.Errorf("dialua_vms = %v, want %d", value(after, "dialua_vms"), eng.VMs())
	}

	// A hot swap: the file changes, the cache compiles the new version.
	write("ok.lua", `response:hangup() -- v2`)
	deadline := time.Now().Add(5 * time.Second)
	for value(scrape(t, scrapes.URL), "dialua_script_hot_swaps_total") < 1 {
		if time.Now().After(deadline) {
			t.Fatal("no hot swap counted after the file changed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(scrapeText(t, scrapes.URL), "# TYPE dialua_requests_total counter") {
		t.Error("text format lacks the requests counter's TYPE line")
	}
}

func scrapeText(t *testing.T, url string) string {
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
