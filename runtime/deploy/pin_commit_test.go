package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/session"
)

// A request for a script the live release does not have writes no pin,
// however many new CallIDs it comes with; a request that runs a script
// pins its call.
func TestNoPinWithoutAScript(t *testing.T) {
	mem := session.NewMemory(session.MemoryLimits{})
	e := newEnvWith(t, nil, mem)
	e.activate("acme", e.mustUpload("acme", release("v1"), "").ID)
	for i := range 200 {
		if _, err := e.run("acme", "no-such-script", "CallID", fmt.Sprintf("made-up-%d", i)); !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("missing script: %v", err)
		}
	}
	if n := mem.Usage("acme/release"); n != 0 {
		t.Fatalf("%d bytes of pins for requests that ran nothing", n)
	}
	if _, err := e.run("acme", "ivr", "CallID", "real-call"); err != nil {
		t.Fatal(err)
	}
	if _, found, _ := mem.Get(context.Background(), session.Key{Tenant: "acme/release", CallID: "real-call"}, "release"); !found && mem.Usage("acme/release") == 0 {
		t.Fatal("a call that ran was not pinned")
	}
}
