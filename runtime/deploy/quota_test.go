package deploy_test

import (
	"context"
	"errors"
	"testing"

	"github.com/dialua/dialua/runtime/deploy"
)

// A tenant cannot keep more than MaxReleasesPerTenant releases; another
// tenant is not affected, and the live release keeps serving.
func TestReleasesPerTenantBounded(t *testing.T) {
	e := newEnv(t, nil)
	first := e.mustUpload("acme", release("v1"), "")
	e.activate("acme", first.ID)
	for i := 1; i < deploy.MaxReleasesPerTenant; i++ {
		e.mustUpload("acme", release("v1"), "")
	}
	_, err := e.upload("acme", release("v2"), "one too many")
	if !errors.Is(err, deploy.ErrTenantFull) {
		t.Fatalf("release %d: %v, want ErrTenantFull", deploy.MaxReleasesPerTenant+1, err)
	}
	if rels, _ := e.store.Releases(context.Background(), "acme"); len(rels) != deploy.MaxReleasesPerTenant {
		t.Errorf("%d releases stored", len(rels))
	}
	if _, err := e.upload("beta", release("v1"), ""); err != nil {
		t.Errorf("another tenant: %v", err)
	}
	if v, err := e.run("acme", "ivr"); err != nil || v["script"] != "v1" {
		t.Errorf("acme's live release: %v %v", v, err)
	}
}
