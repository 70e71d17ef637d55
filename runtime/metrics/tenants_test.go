package metrics

import (
	"fmt"
	"testing"
	"time"
)

// tenantValues is the set of tenant label values m exports now.
func tenantValues(t *testing.T, m *Metrics) map[string]bool {
	t.Helper()
	mfs, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "tenant" {
					out[l.GetValue()] = true
				}
			}
		}
	}
	return out
}

// 10,000 tenants, each running and answering, export at most N+1 tenant
// label values, before and after a rebalance.
func TestTenantLabelsBounded(t *testing.T) {
	const n = 50
	m := New(Options{MaxTenants: n, NoProcess: true})
	clock := time.Unix(1000, 0)
	m.tenants.now = func() time.Time { return clock }
	m.tenants.nextCheck.Store(clock.Add(time.Minute).UnixNano())
	round := func() {
		for i := range 10000 {
			name := fmt.Sprintf("t%05d", i)
			m.RunDone(name, "ok", time.Millisecond)
			m.RequestDone(name, 200, "interactive", time.Millisecond)
			m.HTTPCall(name, "ok")
		}
	}
	round()
	if got := tenantValues(t, m); len(got) > n+1 || !got[Other] {
		t.Fatalf("%d tenant values (want at most %d, with other)", len(got), n+1)
	}
	clock = clock.Add(2 * time.Minute)
	round()
	if got := tenantValues(t, m); len(got) > n+1 {
		t.Fatalf("after a rebalance: %d tenant values, want at most %d", len(got), n+1)
	}
	if m.TenantLabels() > n || m.tenants.nextCheck.Load() != clock.Add(time.Minute).UnixNano() {
		t.Fatalf("%d labeled tenants, want at most %d", m.TenantLabels(), n)
	}
}

// Once the labels are taken, a busy tenant wins one at the next rebalance,
// from a quiet one, and the quiet one's series go.
func TestBusiestTenantWinsLabel(t *testing.T) {
	m := New(Options{MaxTenants: 3, NoProcess: true})
	clock := time.Unix(1000, 0)
	m.tenants.now = func() time.Time { return clock }
	m.tenants.nextCheck.Store(clock.Add(time.Minute).UnixNano())
	for _, name := range []string{"a", "b", "c"} {
		m.RunDone(name, "ok", time.Millisecond)
		m.RequestDone(name, 200, "", time.Millisecond)
	}
	for range 100 {
		m.RunDone("busy", "ok", time.Millisecond)
		m.RunDone("a", "ok", time.Millisecond)
		m.RunDone("b", "ok", time.Millisecond)
	}
	if got := tenantValues(t, m); got["busy"] {
		t.Fatal("busy has a label before any rebalance, while all were taken")
	}
	clock = clock.Add(2 * time.Minute)
	m.RunDone("busy", "ok", time.Millisecond) // this call rebalances
	m.RequestDone("busy", 200, "", time.Millisecond)
	got := tenantValues(t, m)
	if !got["busy"] || !got["a"] || !got["b"] || got["c"] {
		t.Fatalf("tenant values %v: want busy, a, b (and other), not c", got)
	}
	// c's later requests count as other's.
	m.RequestDone("c", 200, "", time.Millisecond)
	if tenantValues(t, m)["c"] {
		t.Fatal("c's series came back after it lost its label")
	}
}

// A request for a missing script earns no label.
func TestNotFoundEarnsNoLabel(t *testing.T) {
	m := New(Options{MaxTenants: 3, NoProcess: true})
	for i := range 10 {
		m.RunDone(fmt.Sprintf("scan%d", i), "not_found", time.Millisecond)
	}
	if m.TenantLabels() != 0 {
		t.Fatalf("%d tenants labeled by 404s", m.TenantLabels())
	}
}
