package loader

import (
	"fmt"
	"testing"
	"testing/fstest"
)

// Eviction finds the tenant holding the most from a sample of entries, so
// with many calm tenants holding one script each, a hog loading scripts
// past MaxScripts evicts its own, never a calm tenant's only script.
func TestEvictionSparesCalmTenants(t *testing.T) {
	fsys := fstest.MapFS{}
	const calm = 2000
	for i := 0; i < calm; i++ {
		fsys[fmt.Sprintf("calm%d/ivr.lua", i)] = &fstest.MapFile{Data: []byte(fmt.Sprintf("return %d", i))}
	}
	for i := 0; i < 3000; i++ {
		fsys[fmt.Sprintf("hog/s%d.lua", i)] = &fstest.MapFile{Data: []byte(fmt.Sprintf("return %d", i))}
	}
	s := New(NewFS(fsys), Options{MaxScripts: 2500, MaxBytes: 1 << 40, MaxTenantBytes: 1 << 40})
	for i := 0; i < calm; i++ {
		if _, err := s.Get(Name{Tenant: fmt.Sprintf("calm%d", i), Script: "ivr"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3000; i++ {
		if _, err := s.Get(Name{Tenant: "hog", Script: fmt.Sprintf("s%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	hog := len(s.tenants["hog"].entries)
	t.Logf("entries %d: hog holds %d, calm tenants still cached %d of %d", len(s.entries), hog, len(s.tenants)-1, calm)
	if len(s.tenants)-1 < calm {
		t.Errorf("%d calm tenants lost their only script to the hog's loads", calm-(len(s.tenants)-1))
	}
}
