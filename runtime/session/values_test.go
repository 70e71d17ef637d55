package session

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/testkit/redistest"
)

// bothStores runs f on a Memory store and on a Redis store with the same
// limits, with a function reporting what the tenant's entries are counted
// for.
func bothStores(t *testing.T, limits MemoryLimits, f func(t *testing.T, s Store, usage func(tenant string) int64)) {
	t.Run("memory", func(t *testing.T) {
		m := NewMemory(limits)
		t.Cleanup(func() { m.Close() })
		f(t, m, m.Usage)
	})
	t.Run("redis", func(t *testing.T) {
		st := newTestRedis(t, redistest.Start(t), RedisOptions{Limits: RedisLimits(limits)})
		f(t, st, func(tenant string) int64 { return usage(t, st, tenant) })
	})
}

// TestValuesKeepTenantsApart: two tenants using the same key name each see
// their own value, and deleting one leaves the other; a session whose
// CallID is the key's name (a request can send any CallID) reaches neither.
func TestValuesKeepTenantsApart(t *testing.T) {
	bothStores(t, MemoryLimits{}, func(t *testing.T, s Store, _ func(string) int64) {
		v, ctx := NewValues(s), context.Background()
		if err := v.Set(ctx, "a", "fails:0003*306", "n:2", 0); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := v.Get(ctx, "b", "fails:0003*306"); ok || err != nil {
			t.Fatalf("tenant b reads tenant a's key: %q %v %v", got, ok, err)
		}
		if n, err := v.Incr(ctx, "b", "fails:0003*306", 1, 0); err != nil || n != 1 {
			t.Fatalf("tenant b's own counter: %v %v, want 1", n, err)
		}
		if got, _, _ := v.Get(ctx, "a", "fails:0003*306"); got != "n:2" {
			t.Errorf("tenant a's key after b's write: %q", got)
		}
		// The session namespace is another one, both ways.
		sk := Key{Tenant: "a", CallID: "fails:0003*306"}
		if got, ok, _ := s.Get(ctx, sk, valueField); ok {
			t.Errorf("a session named like the key reads it: %q", got)
		}
		if err := s.Set(ctx, sk, valueField, "s:from a call", time.Hour); err != nil {
			t.Fatal(err)
		}
		if got, _, _ := v.Get(ctx, "a", "fails:0003*306"); got != "n:2" {
			t.Errorf("a session's write reached the key: %q", got)
		}
		// Names with the separators of the bookkeeping keys stay apart too.
		for _, k := range []string{"x\x00y", "x\x01y", "a:x"} {
			if err := v.Set(ctx, "a", k, "s:"+k, 0); err != nil {
				t.Fatal(err)
			}
		}
		for _, k := range []string{"x\x00y", "x\x01y", "a:x"} {
			if got, _, _ := v.Get(ctx, "a", k); got != "s:"+k {
				t.Errorf("key %q reads %q", k, got)
			}
		}
		if err := v.Delete(ctx, "b", "fails:0003*306"); err != nil {
			t.Fatal(err)
		}
		if got, _, _ := v.Get(ctx, "a", "fails:0003*306"); got != "n:2" {
			t.Errorf("b's delete removed a's key: %q", got)
		}
	})
}

// TestValuesCountInTheTenantQuota: store keys and sessions share the
// tenant's quota, counted alike in both stores; a tenant filling it cannot
// take another's room, and a delete gives everything back.
func TestValuesCountInTheTenantQuota(t *testing.T) {
	var counted [2]int64
	i := 0
	bothStores(t, MemoryLimits{PerTenant: 40 << 10}, func(t *testing.T, s Store, usage func(string) int64) {
		v, ctx := NewValues(s), context.Background()
		v.Set(ctx, "t", "name", "s:Alice", time.Hour)
		v.Set(ctx, "t", "name", "s:Bob", time.Hour)
		v.Incr(ctx, "t", "n", 2, time.Hour)
		s.Set(ctx, Key{Tenant: "t", CallID: "c"}, "f", "s:call", time.Hour)
		counted[i] = usage("t")
		i++
		// Three entries of one one-byte field each ("v", and the
		// session's "f"); a key's name, like a CallID, is in the overhead.
		want := int64(3*(sessionOverhead+fieldOverhead+1) + len("s:Bob") + len("n:2") + len("s:call"))
		if u := usage("t"); u != want {
			t.Errorf("tenant counted for %d bytes, want %d", u, want)
		}
		for _, k := range []string{"name", "n", "never-set"} {
			if err := v.Delete(ctx, "t", k); err != nil {
				t.Fatal(err)
			}
		}
		s.Delete(ctx, Key{Tenant: "t", CallID: "c"}, "f")
		if u := usage("t"); u != 0 {
			t.Errorf("everything deleted, %d bytes still counted", u)
		}

		big := "s:" + strings.Repeat("x", 8000)
		var err error
		for n := 0; n < 10 && err == nil; n++ {
			err = v.Set(ctx, "evil", "k"+string(rune('0'+n)), big, 0)
		}
		if !errors.Is(err, ErrTenantQuota) {
			t.Fatalf("filling the tenant with keys: %v, want ErrTenantQuota", err)
		}
		if err := s.Set(ctx, Key{Tenant: "evil", CallID: "c"}, "f", big, time.Hour); !errors.Is(err, ErrTenantQuota) {
			t.Errorf("a session of a tenant whose keys fill its quota: %v, want ErrTenantQuota", err)
		}
		if err := v.Set(ctx, "calm", "k", big, 0); err != nil {
			t.Errorf("another tenant cannot write: %v", err)
		}
		// A loop setting and deleting fresh keys holds nothing.
		for n := range 200 {
			k := "tmp" + strings.Repeat("y", n)
			if err := v.Set(ctx, "churn", k, "s:v", MaxValueTTL); err != nil {
				t.Fatalf("churn %d: %v", n, err)
			}
			v.Delete(ctx, "churn", k)
		}
		if u := usage("churn"); u != 0 {
			t.Errorf("set and deleted keys still count %d bytes", u)
		}
	})
	if counted[0] != counted[1] {
		t.Errorf("memory counts %d bytes, Redis %d", counted[0], counted[1])
	}
}

// TestValuesIncrIsAtomic: concurrent increments of one key lose none, in
// either store (4 at once: within the Redis store's in-flight budget per
// tenant).
func TestValuesIncrIsAtomic(t *testing.T) {
	bothStores(t, MemoryLimits{}, func(t *testing.T, s Store, _ func(string) int64) {
		v, ctx := NewValues(s), context.Background()
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 10 {
					if _, err := v.Incr(ctx, "t", "hits", 1, 0); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if n, err := v.Incr(ctx, "t", "hits", 0.5, 0); err != nil || n != 40.5 {
			t.Errorf("after 40 increments and 0.5: %v %v", n, err)
		}
		v.Set(ctx, "t", "word", "s:x", 0)
		if _, err := v.Incr(ctx, "t", "word", 1, 0); !errors.Is(err, ErrNotNumber) {
			t.Errorf("incr of a string: %v, want ErrNotNumber", err)
		}
	})
}

// TestValuesExpire: each key has its own TTL, and an expired key's bytes
// come back (in Redis, through the next write's pruning of expired
// entries, which must read a store key's bookkeeping name as well as a
// session's).
func TestValuesExpire(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		m := NewMemory(MemoryLimits{})
		defer m.Close()
		now := time.Now()
		m.now = func() time.Time { return now }
		v, ctx := NewValues(m), context.Background()
		v.Set(ctx, "t", "short", "s:v", time.Minute)
		v.Incr(ctx, "t", "long", 1, 0)
		now = now.Add(2 * time.Minute)
		if _, ok, _ := v.Get(ctx, "t", "short"); ok {
			t.Error("a key read after its TTL")
		}
		now = now.Add(DefaultValueTTL - 3*time.Minute)
		if got, ok, _ := v.Get(ctx, "t", "long"); !ok || got != "n:1" {
			t.Errorf("a key with the default TTL, just under a day on: %q %v", got, ok)
		}
		now = now.Add(2 * time.Minute)
		if _, ok, _ := v.Get(ctx, "t", "long"); ok {
			t.Error("a key with the default TTL read after a day")
		}
		if u := m.Usage("t"); u != 0 {
			t.Errorf("expired keys still count %d bytes", u)
		}
	})
	t.Run("redis", func(t *testing.T) {
		st := newTestRedis(t, redistest.Start(t), RedisOptions{})
		ctx := context.Background()
		for _, k := range []string{"a", "b\x00c"} {
			if err := st.Set(ctx, Key{Tenant: "t", CallID: k, Kind: TenantKey}, valueField, "s:v", 300*time.Millisecond); err != nil {
				t.Fatal(err)
			}
		}
		v := NewValues(st)
		if err := v.Set(ctx, "u", "stays", "s:v", time.Hour); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		if _, ok, _ := v.Get(ctx, "t", "a"); ok {
			t.Error("a key read after its TTL")
		}
		v.Set(ctx, "u", "write", "s:v", time.Hour) // prunes the expired keys
		if u := usage(t, st, "t"); u != 0 {
			t.Errorf("expired keys still count %d bytes", u)
		}
		if got, ok, _ := v.Get(ctx, "u", "stays"); !ok || got != "s:v" {
			t.Errorf("a live key of another tenant: %q %v", got, ok)
		}
	})
}

// TestValuesBounds: key names and TTLs outside the store's bounds are
// refused before the store is asked.
func TestValuesBounds(t *testing.T) {
	m := NewMemory(MemoryLimits{})
	defer m.Close()
	v, ctx := NewValues(m), context.Background()
	for _, k := range []string{"", strings.Repeat("k", MaxKeyBytes+1)} {
		if err := v.Set(ctx, "t", k, "s:v", 0); !errors.Is(err, ErrKeyName) {
			t.Errorf("key of %d bytes: %v", len(k), err)
		}
		if _, _, err := v.Get(ctx, "t", k); !errors.Is(err, ErrKeyName) {
			t.Errorf("get of a key of %d bytes: %v", len(k), err)
		}
	}
	if err := v.Set(ctx, "t", strings.Repeat("k", MaxKeyBytes), "s:v", 0); err != nil {
		t.Errorf("a key of %d bytes: %v", MaxKeyBytes, err)
	}
	for _, ttl := range []time.Duration{-time.Second, time.Millisecond, MaxValueTTL + time.Second} {
		if _, err := v.Incr(ctx, "t", "k", 1, ttl); !errors.Is(err, ErrTTL) {
			t.Errorf("TTL %v: %v", ttl, err)
		}
	}
	if err := v.Set(ctx, "t", "k", "s:"+strings.Repeat("v", MaxValueBytes+1), 0); !errors.Is(err, ErrValueTooLarge) {
		t.Errorf("a value past the limit: %v", err)
	}
	if NewValues(nil) != nil {
		t.Error("NewValues(nil) is not nil")
	}
}
