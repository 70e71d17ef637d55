package session

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestMemoryQuotasKeepTenantsApart(t *testing.T) {
	m := NewMemory(MemoryLimits{PerSession: 10 << 10, PerTenant: 40 << 10, Total: 100 << 10})
	defer m.Close()
	ctx := context.Background()
	victim := Key{Tenant: "victim", CallID: "v1"}
	if err := m.Set(ctx, victim, "tier", "s:gold", time.Hour); err != nil {
		t.Fatal(err)
	}
	big := "s:" + strings.Repeat("x", 4000)
	// One call cannot pass its session limit.
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		err = m.Set(ctx, Key{Tenant: "evil", CallID: "c0"}, "f"+string(rune('a'+i)), big, time.Hour)
	}
	if !errors.Is(err, ErrSessionFull) {
		t.Errorf("filling one session: %v, want ErrSessionFull", err)
	}
	// Many calls cannot pass the tenant's quota...
	err = nil
	for c := 1; c < 100 && err == nil; c++ {
		err = m.Set(ctx, Key{Tenant: "evil", CallID: "c" + string(rune('0'+c%10)) + string(rune('a'+c/10))}, "f", big, time.Hour)
	}
	if !errors.Is(err, ErrTenantQuota) {
		t.Errorf("filling the tenant: %v, want ErrTenantQuota", err)
	}
	if u := m.Usage("evil"); u > 40<<10 {
		t.Errorf("tenant holds %d bytes, over its quota", u)
	}
	// ...and nothing of the victim's was pushed out; it can still write.
	if v, ok, _ := m.Get(ctx, victim, "tier"); !ok || v != "s:gold" {
		t.Errorf("victim's session after the flood: %q %v", v, ok)
	}
	if err := m.Set(ctx, victim, "more", big, time.Hour); err != nil {
		t.Errorf("victim cannot write: %v", err)
	}
	// Deleting gives the bytes back.
	before := m.Usage("victim")
	m.Delete(ctx, victim, "more")
	if after := m.Usage("victim"); after >= before {
		t.Errorf("delete did not release bytes: %d -> %d", before, after)
	}
}

func TestMemoryTTLReleasesBytes(t *testing.T) {
	m := NewMemory(MemoryLimits{})
	defer m.Close()
	now := time.Now()
	m.now = func() time.Time { return now }
	k := Key{Tenant: "a", CallID: "c"}
	if _, err := m.Incr(context.Background(), k, "n", 2, time.Minute); err != nil {
		t.Fatal(err)
	}
	if n, _ := m.Incr(context.Background(), k, "n", 3, time.Minute); n != 5 {
		t.Errorf("incr: %v", n)
	}
	now = now.Add(2 * time.Minute)
	if _, ok, _ := m.Get(context.Background(), k, "n"); ok {
		t.Error("expired session still answers")
	}
	if u := m.Usage("a"); u != 0 {
		t.Errorf("expired session still holds %d bytes", u)
	}
}
