package loader

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func newTestStore(t *testing.T, files map[string]string, max int, total, share int64) *Loader {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src, err := NewFolder(dir, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return New(src, Options{MaxScripts: max, MaxBytes: total, MaxTenantBytes: share})
}

// checkBounds verifies the accounting against the entries and the limits.
func checkBounds(t *testing.T, s *Loader) {
	t.Helper()
	s.mu.RLock()
	defer s.mu.RUnlock()
	var sum int64
	per := map[string]int64{}
	for _, e := range s.entries {
		sum += e.bytes
		per[e.key.Tenant] += e.bytes
	}
	if sum != s.bytes {
		t.Fatalf("accounted %d bytes, entries hold %d", s.bytes, sum)
	}
	if s.bytes > s.maxBytes {
		t.Errorf("cache holds %d bytes, limit %d", s.bytes, s.maxBytes)
	}
	if len(s.entries) > s.max {
		t.Errorf("cache holds %d entries, limit %d", len(s.entries), s.max)
	}
	for tenant, b := range per {
		if b > s.tenantBytes && len(s.tenants[tenant].entries) > 1 {
			t.Errorf("tenant %s holds %d bytes in %d entries, share %d", tenant, b, len(s.tenants[tenant].entries), s.tenantBytes)
		}
		if s.tenants[tenant].bytes != b {
			t.Errorf("tenant %s accounted %d, holds %d", tenant, s.tenants[tenant].bytes, b)
		}
	}
}

func TestCacheBytesBounded(t *testing.T) {
	files := map[string]string{}
	for tn := range 12 {
		for i := range 10 {
			files[fmt.Sprintf("t%d/s%d.lua", tn, i)] = "local t = {" + strings.Repeat("true,", 2000*(i+1)) + "}"
		}
	}
	files["t0/huge.lua"] = "local t = {" + strings.Repeat("true,", 100000) + "}"
	s := newTestStore(t, files, 50, 3<<20, 1<<20)
	for range 3 {
		for tn := range 12 {
			for i := range 10 {
				if _, err := s.Get(Name{Tenant: fmt.Sprintf("t%d", tn), Script: fmt.Sprintf("s%d", i)}); err != nil {
					t.Fatal(err)
				}
				checkBounds(t, s)
			}
		}
	}
	// A script bigger than the tenant's share is served and kept alone.
	sc, err := s.Get(Name{Tenant: "t0", Script: "huge"})
	if err != nil {
		t.Fatal(err)
	}
	if sc.bytes <= s.tenantBytes {
		t.Fatalf("huge is %d bytes, not over the share", sc.bytes)
	}
	checkBounds(t, s)
	s.mu.RLock()
	if n := len(s.tenants["t0"].entries); n != 1 || s.entries[Name{Tenant: "t0", Script: "huge"}] == nil {
		t.Errorf("t0 holds %d entries after its oversized script", n)
	}
	s.mu.RUnlock()
	if again, _ := s.Get(Name{Tenant: "t0", Script: "huge"}); again != sc {
		t.Error("oversized script compiled again instead of served from the cache")
	}
}
