// Package metrics is dialua's Prometheus metrics: the one package that
// imports client_golang. It implements the observer interfaces of the lower
// packages (engine.Observer, server.Observer, session.Observer, the admin
// API's hooks) without importing them: those packages never import this one,
// and each hook is nil, and free, unless cmd wires a Metrics in.
//
// A Metrics has its own prometheus.Registry (never the process-wide default
// one), so two engines in one process can each have theirs. Tenant labels
// are bounded: see tenants.go and docs/operations.md.
package metrics

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type (
	counter  = prometheus.Counter
	observer = prometheus.Observer
)

// Options tune a Metrics. Zero values take the defaults noted.
type Options struct {
	// MaxTenants is how many tenants may have a tenant label value of
	// their own; the others count as tenant="other". Default 100.
	MaxTenants int
	// Rebalance is how often the labels go to the busiest tenants once
	// they are all taken; default 1 minute.
	Rebalance time.Duration
	// NoProcess leaves out the Go runtime and process collectors.
	NoProcess bool
}

// Defaults of Options.
const (
	DefaultMaxTenants = 100
	DefaultRebalance  = time.Minute
)

// Stats is what the gauges read at each scrape (cmd fills it from
// engine.Stats).
type Stats struct {
	VMs, VMsInUse, VMsWaiting, CPUWaiting int
	CacheEntries                          int
	CacheBytes                            int64
}

// Metrics holds dialua's metrics and their registry. Its methods are safe for
// concurrent use.
type Metrics struct {
	reg     *prometheus.Registry
	tenants *tenantSet

	requests     *prometheus.CounterVec
	runSeconds   *prometheus.HistogramVec
	runs         map[string]counter
	scriptErrors map[string]counter
	httpCalls    *prometheus.CounterVec
	memoryStops  *prometheus.CounterVec

	cacheHits, cacheMisses, cacheEvictions, compileErrors, hotSwaps counter

	sessionOps     *prometheus.CounterVec
	sessionErrors  *prometheus.CounterVec
	sessionSeconds *prometheus.HistogramVec
	smu            sync.RWMutex
	sessionSeries  map[opKey]*opSeries

	deploys   *prometheus.CounterVec
	rollbacks *prometheus.CounterVec

	stats atomic.Pointer[func() Stats]
}

type opKey struct{ backend, op string }

type opSeries struct {
	ops, errs counter
	seconds   observer
}

// Label values of the bounded labels.
var (
	statusClassNames = [statusClasses]string{"1xx", "2xx", "3xx", "4xx", "5xx"}
	eventNames       = [events]string{"none", "dial-in", "dial-out", "hangup", "interactive", "other"}
	httpOutcomeNames = [httpOutcomes]string{"ok", "4xx", "5xx", "denied", "timeout", "error"}
	runOutcomes      = []string{"ok", "compile", "runtime", "timeout", "memory", "not_found", "bad_path", "busy", "tenant_busy", "error"}
	errorKinds       = []string{"compile", "runtime", "timeout", "memory"}
)

const (
	statusClasses = 5
	events        = 6
	httpOutcomes  = 6
)

// durationBuckets suit runs of tens of microseconds up to the deadline.
var durationBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// New makes the metrics, registered in a registry of their own.
func New(o Options) *Metrics {
	if o.MaxTenants <= 0 {
		o.MaxTenants = DefaultMaxTenants
	}
	if o.Rebalance <= 0 {
		o.Rebalance = DefaultRebalance
	}
	m := &Metrics{reg: prometheus.NewRegistry(), sessionSeries: map[opKey]*opSeries{}}
	m.tenants = newTenantSet(m, o.MaxTenants, o.Rebalance)
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dialua_requests_total",
		Help: "Script requests answered, by tenant (bounded: see docs/operations.md), status class and event."},
		[]string{"tenant", "status", "event"})
	m.runSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dialua_run_duration_seconds",
		Help: "Time of engine runs (lookup, queueing for a VM, the script), by tenant.", Buckets: durationBuckets},
		[]string{"tenant"})
	runs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dialua_runs_total",
		Help: "Engine runs by outcome: ok, a script error's kind, not_found, bad_path, busy, tenant_busy, error."},
		[]string{"outcome"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dialua_script_errors_total",
		Help: "Failed scripts by kind: compile, runtime, timeout, memory."}, []string{"kind"})
	m.runs, m.scriptErrors = map[string]counter{}, map[string]counter{}
	for _, o := range runOutcomes {
		m.runs[o] = runs.WithLabelValues(o)
	}
	for _, k := range errorKinds {
		m.scriptErrors[k] = errs.WithLabelValues(k)
	}
	m.httpCalls = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dialua_http_calls_total",
		Help: "Calls of the scripts' http module, by tenant and outcome (ok, 4xx, 5xx, denied, timeout, error)."},
		[]string{"tenant", "outcome"})
	m.memoryStops = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dialua_memory_stops_total",
		Help: "Runs stopped for memory: reason heap (the watchdog, --max-memory) or run (--max-run-memory)."},
		[]string{"reason"})
	m.memoryStops.WithLabelValues("heap")
	m.memoryStops.WithLabelValues("run")
	cache := func(name, help string) counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
		m.reg.MustRegister(c)
		return c
	}
	m.cacheHits = cache("dialua_script_cache_hits_total", "Script lookups answered from the compiled-script cache.")
	m.cacheMisses = cache("dialua_script_cache_misses_total", "Script lookups that had to locate and compile the file.")
	m.cacheEvictions = cache("dialua_script_cache_evictions_total", "Compiled scripts pushed out by the cache's bounds.")
	m.compileErrors = cache("dialua_script_compile_errors_total", "File versions that did not compile or could not be read.")
	m.hotSwaps = cache("dialua_script_hot_swaps_total", "Changed files whose new version replaced the cached one.")
	m.sessionOps = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dialua_session_operations_total",
		Help: "Session store operations, by backend and operation."}, []string{"backend", "op"})
	m.sessionErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dialua_session_errors_total",
		Help: "Session store operations that failed, by backend and operation."}, []string{"backend", "op"})
	m.sessionSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "dialua_session_operation_duration_seconds",
		Help: "Latency of session store operations, by backend.", Buckets: durationBuckets}, []string{"backend"})
	m.deploys = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dialua_deploys_total",
		Help: "Release changes through the admin API: action upload, activate or promote; outcome ok or failed."},
		[]string{"action", "outcome"})
	m.rollbacks = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dialua_rollbacks_total",
		Help: "Rollbacks through the admin API, by outcome (ok or failed)."}, []string{"outcome"})
	m.reg.MustRegister(m.requests, m.runSeconds, runs, errs, m.httpCalls, m.memoryStops,
		m.sessionOps, m.sessionErrors, m.sessionSeconds, m.deploys, m.rollbacks, gauges{m})
	if !o.NoProcess {
		// The scheduler's metrics add go_sched_latencies_seconds: how long
		// runnable goroutines waited for a thread, where a server's tail
		// latency starts on a loaded machine.
		goColl := collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(collectors.MetricsScheduler))
		m.reg.MustRegister(goColl, collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	return m
}

// Registry is the metrics' own registry, for an embedder adding its own.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: nil})
}

// SetStats sets what the gauges read at each scrape (nil: the gauges are
// absent).
func (m *Metrics) SetStats(f func() Stats) {
	if f == nil {
		m.stats.Store(nil)
		return
	}
	m.stats.Store(&f)
}

// RunDone counts an engine run (engine.Observer).
func (m *Metrics) RunDone(tenant, outcome string, d time.Duration) {
	var e *tenantEntry
	if outcome == "not_found" || outcome == "bad_path" {
		e = m.tenants.lookup(tenant) // a missing script earns no label
	} else {
		e = m.tenants.ran(tenant)
	}
	m.tenants.runObserver(e).Observe(d.Seconds())
	c := m.runs[outcome]
	if c == nil {
		c = m.runs["error"]
	}
	c.Inc()
	if c := m.scriptErrors[outcome]; c != nil {
		c.Inc()
	}
}

// MemoryStop counts a run stopped for memory (engine.Observer).
func (m *Metrics) MemoryStop(tenant, reason string) {
	if reason != "heap" {
		reason = "run"
	}
	m.memoryStops.WithLabelValues(reason).Inc()
}

// CacheEvent counts a compiled-script cache event (loader.Observer).
func (m *Metrics) CacheEvent(event string) {
	switch event {
	case "hit":
		m.cacheHits.Inc()
	case "miss":
		m.cacheMisses.Inc()
	case "evict":
		m.cacheEvictions.Inc()
	case "compile_error":
		m.compileErrors.Inc()
	case "swap":
		m.hotSwaps.Inc()
	}
}

// HTTPCall counts a call of the http module (luaapi.HTTPObserver).
func (m *Metrics) HTTPCall(tenant, outcome string) {
	i := 5 // error
	for j, n := range httpOutcomeNames {
		if n == outcome {
			i = j
			break
		}
	}
	e := m.tenants.lookup(tenant)
	m.tenants.counterAt(e, &e.http[i], func(t string) counter {
		return m.httpCalls.WithLabelValues(t, httpOutcomeNames[i])
	}).Inc()
}

// RequestDone counts an answered request (server.Observer).
func (m *Metrics) RequestDone(tenant string, status int, event string, d time.Duration) {
	c := min(max(status/100, 1), 5) - 1
	ev := 5 // other
	for j, n := range eventNames {
		if n == event || (j == 0 && event == "") {
			ev = j
			break
		}
	}
	e := m.tenants.lookup(tenant)
	m.tenants.counterAt(e, &e.req[c*events+ev], func(t string) counter {
		return m.requests.WithLabelValues(t, statusClassNames[c], eventNames[ev])
	}).Inc()
}

// SessionOp counts a session store operation (session.Observer).
func (m *Metrics) SessionOp(backend, op string, err error, d time.Duration) {
	k := opKey{backend, op}
	m.smu.RLock()
	s := m.sessionSeries[k]
	m.smu.RUnlock()
	if s == nil {
		m.smu.Lock()
		if s = m.sessionSeries[k]; s == nil && len(m.sessionSeries) < 64 {
			s = &opSeries{ops: m.sessionOps.WithLabelValues(backend, op), errs: m.sessionErrors.WithLabelValues(backend, op),
				seconds: m.sessionSeconds.WithLabelValues(backend)}
			m.sessionSeries[k] = s
		}
		m.smu.Unlock()
		if s == nil {
			return // more backends and operations than exist: not counted
		}
	}
	s.ops.Inc()
	if err != nil {
		s.errs.Inc()
	}
	s.seconds.Observe(d.Seconds())
}

// Release counts a release change (the admin API's OnRelease hook).
func (m *Metrics) Release(action string, ok bool) {
	outcome := "ok"
	if !ok {
		outcome = "failed"
	}
	switch action {
	case "rollback":
		m.rollbacks.WithLabelValues(outcome).Inc()
	case "upload", "activate", "promote":
		m.deploys.WithLabelValues(action, outcome).Inc()
	}
}

// TenantLabels is how many tenants have a label value of their own now.
func (m *Metrics) TenantLabels() int { return m.tenants.labels() }

// forget drops a tenant's series after it lost its label.
func (m *Metrics) forget(tenant string) {
	l := prometheus.Labels{"tenant": tenant}
	m.requests.DeletePartialMatch(l)
	m.runSeconds.DeletePartialMatch(l)
	m.httpCalls.DeletePartialMatch(l)
}

// gauges reads Stats at each scrape.
type gauges struct{ m *Metrics }

var (
	descVMs          = prometheus.NewDesc("dialua_vms", "VMs that may exist at once (--vms).", nil, nil)
	descVMsInUse     = prometheus.NewDesc("dialua_vms_in_use", "VM slots held by runs now.", nil, nil)
	descVMsWaiting   = prometheus.NewDesc("dialua_vms_waiting", "Requests waiting in line for a VM slot now.", nil, nil)
	descCPUWaiting   = prometheus.NewDesc("dialua_cpu_waiting", "Runs waiting for a CPU token now.", nil, nil)
	descCacheEntries = prometheus.NewDesc("dialua_script_cache_entries", "Compiled scripts (and remembered failures) cached.", nil, nil)
	descCacheBytes   = prometheus.NewDesc("dialua_script_cache_bytes", "Estimated memory of the compiled-script cache.", nil, nil)
	descTenantLabels = prometheus.NewDesc("dialua_metrics_tenant_labels", "Tenants with a tenant label value of their own (the rest: tenant=\"other\").", nil, nil)
)

func (g gauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descVMs, descVMsInUse, descVMsWaiting, descCPUWaiting, descCacheEntries, descCacheBytes, descTenantLabels} {
		ch <- d
	}
}

func (g gauges) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descTenantLabels, prometheus.GaugeValue, float64(g.m.tenants.labels()))
	f := g.m.stats.Load()
	if f == nil {
		return
	}
	st := (*f)()
	for _, v := range []struct {
		d *prometheus.Desc
		v float64
	}{{descVMs, float64(st.VMs)}, {descVMsInUse, float64(st.VMsInUse)}, {descVMsWaiting, float64(st.VMsWaiting)},
		{descCPUWaiting, float64(st.CPUWaiting)}, {descCacheEntries, float64(st.CacheEntries)}, {descCacheBytes, float64(st.CacheBytes)}} {
		ch <- prometheus.MustNewConstMetric(v.d, prometheus.GaugeValue, v.v)
	}
}
