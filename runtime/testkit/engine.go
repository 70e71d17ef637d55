package testkit

import (
	"sync"
	"testing"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/sandbox"
)

// Engine is an engine under test: the engine itself (its Run and Close are
// engine.Engine's), the scripts root it serves and the log it writes.
type Engine struct {
	*engine.Engine
	Dir  string // the scripts root ("" when opts.Source was given)
	Logs *Logs  // every line the engine and its scripts logged
}

var limitArrays sync.Once

// NewEngine builds an engine over the scripts root dir with opts (dir
// replaces opts.ScriptsDir unless it is ""), logging to a new Logs (it
// replaces opts.Logger), and closes it when the test ends (after the
// cleanups registered later, such as a server's over it). It fails the test
// if the engine does not start.
//
// The engine refuses to start before sandbox.LimitArrays was called;
// NewEngine calls it when nothing has yet. Call it in TestMain all the same
// when tests of the package run VMs of their own in parallel: it sets a
// process-wide variable that running VMs read.
func NewEngine(t testing.TB, dir string, opts engine.Options) *Engine {
	t.Helper()
	limitArrays.Do(func() {
		if !sandbox.ArraysLimited() {
			sandbox.LimitArrays()
		}
	})
	logs := NewLogs()
	if dir != "" {
		opts.ScriptsDir = dir
	}
	opts.Logger = logs.Logger()
	eng, err := engine.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	return &Engine{Engine: eng, Dir: opts.ScriptsDir, Logs: logs}
}
