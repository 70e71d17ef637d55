package metrics_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/metrics"
	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/session"
)

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// BenchmarkEngineSupport is runtime/engine's BenchmarkEngineSupport (the
// same request to the bundled demo/support) with the metrics observing the
// engine, its cache, its http module and its session store ("on"), and
// without ("off"): the allocations per run must be the same.
func BenchmarkEngineSupport(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			opts := engine.Options{ScriptsDir: "../../scripts"}
			if on {
				m := metrics.New(metrics.Options{NoProcess: true})
				opts.Observer = m
				opts.Sessions = session.Observe(session.NewMemory(session.MemoryLimits{}), "memory", m)
			}
			e, err := engine.New(opts)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			req := &protocol.Request{Method: "GET", Path: "/demo/support", Tenant: "demo", Script: "support",
				Params: []protocol.Param{
					{Name: "subscription_code", Value: "934924"}, {Name: "attempts", Value: "0"},
					{Name: protocol.ParamCallID, Value: "5205dc5cc5a411e5ab9eb3691b90ea15"},
					{Name: protocol.ParamCallerIDNum, Value: "0040741234567"}, {Name: protocol.ParamCallerIDName, Value: "Alice"},
					{Name: protocol.ParamCalledDID, Value: "0040318000000"}, {Name: protocol.ParamCalledExtension, Value: "0003*001"},
					{Name: protocol.ParamCallStatus, Value: "ANSWER"}, {Name: protocol.ParamCallFlow, Value: "IN"},
					{Name: protocol.ParamCalledNumber, Value: "0003*001"}}}
			dst, err := e.Run(context.Background(), req, nil)
			if err != nil || !bytes.Contains(dst, []byte("QueueGold")) {
				b.Fatalf("warm-up: %v\n%s", err, dst)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if dst, err = e.Run(context.Background(), req, dst[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
