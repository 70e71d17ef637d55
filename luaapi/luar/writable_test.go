package luar_test

// Regression tests of the security review's finding B: a Writable value is
// shared by concurrent runs, which used to write Go memory with no
// synchronisation (fatal error: concurrent map writes; data races on
// struct fields, which go test -race reports).

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dialua/dialua/luaapi/luar"
	"github.com/dialua/dialua/runtime/engine"
)

func runAll(t *testing.T, e *engine.Engine, scripts ...string) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(scripts))
	for _, s := range scripts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := run(context.Background(), e, s[:1], s[2:]); err != nil {
				errs <- fmt.Errorf("%s: %w", s, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Two tenants' runs writing a shared Writable map at once.
func TestWritableMapConcurrentRuns(t *testing.T) {
	src := `for i = 1, 20000 do m["k" .. (i % 64)] = "v" .. i; local x = m["k1"]; if i % 100 == 0 then m["k" .. (i % 64)] = nil end end
		local n = 0 for k, v in m() do n = n + 1 end
		response:set_var("n", tostring(#m))`
	dir := writeScripts(t, map[string]string{"a/w.lua": src, "b/w.lua": src})
	m := map[string]string{}
	e := newEngine(t, dir, nil, engine.Options{Timeout: 20 * time.Second}, luar.Value("m", m, luar.Writable()))
	runAll(t, e, "a/w", "b/w", "a/w", "b/w")
	if len(m) == 0 || len(m) > 64 {
		t.Fatalf("map after the runs: %d entries", len(m))
	}
}

type sharedAccount struct {
	Name  string
	Tags  []string
	Boss  *sharedAccount
	Notes map[string]string
}

// Struct fields written by some runs while others read them (go test -race
// checks), for a Value and for a PerTenant value that one tenant's
// concurrent runs share; the embedder's Go code reads under WithLock's
// lock meanwhile.
func TestWritableStructConcurrentRuns(t *testing.T) {
	dir := writeScripts(t, map[string]string{
		"a/w.lua": `for i = 1, 3000 do acct.Name = "n" .. i; acct.Boss = (i % 2 == 0) and acct.Boss or nil; acct.Tags[1] = tostring(i); acct.Notes.x = "y" .. i end`,
		"a/r.lua": `local s = "" for i = 1, 3000 do s = tostring(acct.Name) .. tostring(acct.Boss) .. tostring(acct.Tags[1]) .. tostring(acct.Notes.x) .. tostring(#acct.Tags) end
			for i, x in acct.Tags() do s = x end
			response:set_var("s", s)`,
		"a/pw.lua": `for i = 1, 3000 do plan.Name = "p" .. i; plan.Tags[1] = tostring(i) end`,
		"a/pr.lua": `local s for i = 1, 3000 do s = plan.Name .. plan.Tags[1] end`,
	})
	var mu sync.RWMutex
	acct := &sharedAccount{Name: "a", Tags: []string{"t"}, Boss: &sharedAccount{Name: "boss"}, Notes: map[string]string{}}
	plan := &sharedAccount{Name: "p", Tags: []string{"t"}}
	e := newEngine(t, dir, nil, engine.Options{Timeout: 20 * time.Second},
		luar.Value("acct", acct, luar.Writable(), luar.WithLock(&mu)),
		luar.PerTenant("plan", func(string) (any, error) { return plan, nil }, luar.Writable()))
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // the embedder's own reads, under the lock it gave
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			mu.RLock()
			_ = acct.Name + acct.Tags[0] + acct.Notes["x"]
			mu.RUnlock()
			time.Sleep(time.Millisecond)
		}
	}()
	runAll(t, e, "a/w", "a/r", "a/w", "a/r", "a/pw", "a/pr", "a/pw", "a/pr")
	close(stop)
	<-done
	if acct.Name != "n3000" || plan.Name != "p3000" {
		t.Fatalf("after the runs: %q %q", acct.Name, plan.Name)
	}
}
