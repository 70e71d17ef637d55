package engine

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/dialua/dialua/runtime/protocol"
)

// benchParams are the parameters an IVR sends to /demo/support for a caller
// who keyed subscription code code on the first attempt.
func benchParams(code string) []protocol.Param {
	return []protocol.Param{
		{Name: "subscription_code", Value: code},
		{Name: "attempts", Value: "0"},
		{Name: protocol.ParamCallID, Value: "5205dc5cc5a411e5ab9eb3691b90ea15"},
		{Name: protocol.ParamCallerIDNum, Value: "0040741234567"},
		{Name: protocol.ParamCallerIDName, Value: "Alice"},
		{Name: protocol.ParamCalledDID, Value: "0040318000000"},
		{Name: protocol.ParamCalledExtension, Value: "0003*001"},
		{Name: protocol.ParamCallStatus, Value: "ANSWER"},
		{Name: protocol.ParamCallFlow, Value: "IN"},
		{Name: protocol.ParamCalledNumber, Value: "0003*001"},
	}
}

func benchRequest(code string) *protocol.Request {
	return &protocol.Request{
		Method: "GET",
		Path:   "/demo/support",
		Tenant: "demo",
		Script: "support",
		Params: benchParams(code),
	}
}

// benchEngine builds an engine over the bundled scripts and runs req once, so
// the script and its modules are compiled before the timer starts.
func benchEngine(b *testing.B, req *protocol.Request, want []byte) *Engine {
	b.Helper()
	e, err := New(Options{ScriptsDir: "../../scripts"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(e.Close)
	out, err := e.Run(context.Background(), req, nil)
	if err != nil {
		b.Fatalf("warm-up run: %v", err)
	}
	if !bytes.Contains(out, want) {
		b.Fatalf("warm-up output lacks %q:\n%s", want, out)
	}
	return e
}

var (
	wantGold    = []byte("QueueGold")
	wantInvalid = []byte(`<Jump context="Support"`)
)

func benchRun(b *testing.B, code string, want []byte) {
	benchRunReq(b, benchRequest(code), want)
}

func benchRunReq(b *testing.B, req *protocol.Request, want []byte) {
	e := benchEngine(b, req, want)
	ctx := context.Background()
	var dst []byte
	b.ReportAllocs()
	for b.Loop() { // b.Loop resets the timer on entry: the warm-up is not timed
		var err error
		dst, err = e.Run(ctx, req, dst[:0])
		if err != nil {
			b.Fatal(err)
		}
		if !bytes.Contains(dst, want) {
			b.Fatalf("output lacks %q:\n%s", want, dst)
		}
	}
}

// BenchmarkEngineSupport measures one request through the engine on the
// valid-subscription path of demo/support: VM from the pool, fresh sandbox
// globals, request table, require of lib/subscriptions, four verbs, XML out.
// The output buffer is reused, as the server reuses its per-request buffer.
func BenchmarkEngineSupport(b *testing.B) {
	benchRun(b, "934924", wantGold)
}

// BenchmarkEngineInvalid is the same request with an unknown subscription
// code: the script counts the attempt and jumps back to the Support context.
// The request carries no CallID, so the count comes from the IVR's attempts
// parameter (with one, the session would count every iteration as the same
// call's next attempt and hang up on the third).
func BenchmarkEngineInvalid(b *testing.B) {
	req := benchRequest("000000")
	params := req.Params[:0]
	for _, p := range benchRequest("000000").Params {
		if p.Name != protocol.ParamCallID {
			params = append(params, p)
		}
	}
	req.Params = params
	benchRunReq(b, req, wantInvalid)
}

// BenchmarkEngineSupportParallel runs BenchmarkEngineSupport's request from
// GOMAXPROCS goroutines at once, to show contention on the VM pool and the
// script store.
func BenchmarkEngineSupportParallel(b *testing.B) {
	req := benchRequest("934924")
	e := benchEngine(b, req, wantGold)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		var dst []byte
		for pb.Next() {
			var err error
			dst, err = e.Run(ctx, req, dst[:0])
			// Fatal may only be called from the benchmark's own goroutine:
			// report and stop this worker instead.
			if err != nil {
				b.Error(err)
				return
			}
			if !bytes.Contains(dst, wantGold) {
				b.Errorf("output lacks %q:\n%s", wantGold, dst)
				return
			}
		}
	})
}

// BenchmarkEngineMinimal is the engine's own cost: a script that reads one
// parameter and adds one verb, so nearly everything measured is lookup, pool,
// deadline, fresh globals, the request object and the XML.
func BenchmarkEngineMinimal(b *testing.B) {
	dir := b.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "t"), 0o755); err != nil {
		b.Fatal(err)
	}
	src := `if request.params.code == "1" then response:hangup() end`
	if err := os.WriteFile(filepath.Join(dir, "t", "min.lua"), []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	eng, err := New(Options{ScriptsDir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	req := &protocol.Request{Method: "GET", Path: "/t/min", Tenant: "t", Script: "min",
		Params: []protocol.Param{{Name: "code", Value: "1"}, {Name: "CallID", Value: "c1"}}}
	var dst []byte
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if dst, err = eng.Run(context.Background(), req, dst[:0]); err != nil {
			b.Fatal(err)
		}
	}
	if !bytes.Contains(dst, []byte("<Hangup/>")) {
		b.Fatalf("unexpected output %s", dst)
	}
}
