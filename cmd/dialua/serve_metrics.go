package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/dialua/dialua/runtime/admin"
	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/metrics"
	"github.com/dialua/dialua/runtime/server"
	"github.com/dialua/dialua/runtime/session"
)

// serveMetrics wires Prometheus metrics (runtime/metrics) into serve: on with
// --admin (GET /metrics on the admin listener) or --metrics ADDR (a listener
// of its own); with neither, m is nil and every hook stays nil, at no cost.
type serveMetrics struct {
	m       *metrics.Metrics
	backend string // the session store's label: memory or redis
	srv     *http.Server
}

// startMetrics makes the metrics and, with --metrics, starts their listener.
// It reports a failure on stderr and returns ok=false.
func startMetrics(adminAddr, metricsAddr, sessionStore string, log *slog.Logger) (*serveMetrics, bool) {
	mx := &serveMetrics{backend: "redis"}
	if sessionStore == "memory" {
		mx.backend = "memory"
	}
	if adminAddr == "" && metricsAddr == "" {
		return mx, true
	}
	mx.m = metrics.New(metrics.Options{})
	if metricsAddr == "" {
		return mx, true
	}
	ln, err := net.Listen("tcp", metricsAddr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dialua serve: --metrics: %v\n", err)
		return mx, false
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", mx.m.Handler())
	mx.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	go func() {
		if err := mx.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "err", err)
		}
	}()
	log.Info("metrics listening", "metrics", ln.Addr().String()+"/metrics")
	return mx, true
}

// close stops the --metrics listener.
func (mx *serveMetrics) close() {
	if mx.srv != nil {
		mx.srv.Close()
	}
}

// engine adds the engine's observer and observes its session store.
func (mx *serveMetrics) engine(o engine.Options) engine.Options {
	if mx.m != nil {
		o.Observer = mx.m
		o.Sessions = session.Observe(o.Sessions, mx.backend, mx.m)
	}
	return o
}

// server adds the server's observer, and makes the gauges read the engine.
func (mx *serveMetrics) server(c server.Config) server.Config {
	if mx.m == nil {
		return c
	}
	c.Observer = mx.m
	if e, ok := c.Engine.(*engine.Engine); ok {
		mx.m.SetStats(func() metrics.Stats {
			st := e.Stats()
			return metrics.Stats{VMs: st.VMs, VMsInUse: st.VMsInUse, VMsWaiting: st.VMsWaiting, CPUWaiting: st.CPUWaiting,
				CacheEntries: st.Cache.Entries, CacheBytes: st.Cache.Bytes}
		})
	}
	return c
}

// admin serves /metrics on the admin listener and counts release changes.
func (mx *serveMetrics) admin(c admin.Config) admin.Config {
	if mx.m != nil {
		c.Metrics, c.OnRelease = mx.m.Handler(), mx.m.Release
	}
	return c
}
