package session

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dialua/dialua/runtime/testkit/redistest"
)

func newTestRedis(t *testing.T, r *redistest.Server, o RedisOptions) *Redis {
	t.Helper()
	st, err := NewRedisWith(r.URL(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

func usage(t *testing.T, st *Redis, tenant string) int64 {
	t.Helper()
	n, err := st.Usage(context.Background(), tenant)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestRedisQuotasKeepTenantsApart: the same flood as the memory store's
// test, against Redis: one call cannot pass its session limit, one tenant
// cannot pass its quota, and the other tenant can still write.
func TestRedisQuotasKeepTenantsApart(t *testing.T) {
	st := newTestRedis(t, redistest.Start(t), RedisOptions{Limits: RedisLimits{PerSession: 10 << 10, PerTenant: 40 << 10, Total: 100 << 10}})
	ctx := context.Background()
	victim := Key{Tenant: "victim", CallID: "v1"}
	if err := st.Set(ctx, victim, "tier", "s:gold", time.Hour); err != nil {
		t.Fatal(err)
	}
	big := "s:" + strings.Repeat("x", 4000)
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		err = st.Set(ctx, Key{Tenant: "evil", CallID: "c0"}, "f"+string(rune('a'+i)), big, time.Hour)
	}
	if !errors.Is(err, ErrSessionFull) {
		t.Errorf("filling one session: %v, want ErrSessionFull", err)
	}
	err = nil
	for c := 1; c < 100 && err == nil; c++ {
		err = st.Set(ctx, Key{Tenant: "evil", CallID: "c" + string(rune('0'+c%10)) + string(rune('a'+c/10))}, "f", big, time.Hour)
	}
	if !errors.Is(err, ErrTenantQuota) {
		t.Errorf("filling the tenant: %v, want ErrTenantQuota", err)
	}
	if u := usage(t, st, "evil"); u > 40<<10 || u < 30<<10 {
		t.Errorf("tenant at its quota is counted for %d bytes, want just under %d", u, 40<<10)
	}
	if v, ok, _ := st.Get(ctx, victim, "tier"); !ok || v != "s:gold" {
		t.Errorf("victim's session after the flood: %q %v", v, ok)
	}
	if err := st.Set(ctx, victim, "more", big, time.Hour); err != nil {
		t.Errorf("victim cannot write: %v", err)
	}
	before := usage(t, st, "victim")
	if err := st.Delete(ctx, victim, "more"); err != nil {
		t.Fatal(err)
	}
	if after := usage(t, st, "victim"); after != before-int64(len("more")+len(big)+fieldOverhead) {
		t.Errorf("delete gave back %d bytes of %d", before-after, len("more")+len(big)+fieldOverhead)
	}
	// Overwriting a field with a shorter value frees room: the big write
	// the full session refused fits once one big value is replaced.
	if err := st.Set(ctx, Key{Tenant: "evil", CallID: "c0"}, "fa", "s:", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := st.Set(ctx, Key{Tenant: "evil", CallID: "c0"}, "fc", big, time.Hour); err != nil {
		t.Errorf("write after shrinking a full session: %v", err)
	}
}

// TestRedisCountsLikeMemory: the same writes cost the same bytes in both
// stores, so a tenant's quota means the same whichever store is configured.
func TestRedisCountsLikeMemory(t *testing.T) {
	st := newTestRedis(t, redistest.Start(t), RedisOptions{})
	m := NewMemory(MemoryLimits{})
	defer m.Close()
	ctx := context.Background()
	for _, s := range []Store{st, m} {
		a, b := Key{Tenant: "t", CallID: "a"}, Key{Tenant: "t", CallID: "b"}
		s.Set(ctx, a, "name", "s:Alice", time.Hour)
		s.Set(ctx, a, "name", "s:Bob", time.Hour)
		s.Incr(ctx, a, "n", 5, time.Hour)
		s.Incr(ctx, a, "n", 0.5, time.Hour)
		s.Set(ctx, b, "gone", "s:soon", time.Hour)
		s.Set(ctx, b, "stays", "b:1", time.Hour)
		s.Delete(ctx, b, "gone")
		s.Delete(ctx, b, "never-set")
	}
	if r, mem := usage(t, st, "t"), m.Usage("t"); r != mem || r == 0 {
		t.Errorf("Redis counts %d bytes, Memory %d", r, mem)
	}
	// Deleting a session's last field drops the hash in Redis, so its
	// overhead comes back too.
	st.Delete(ctx, Key{Tenant: "t", CallID: "b"}, "stays")
	st.Delete(ctx, Key{Tenant: "t", CallID: "a"}, "name")
	st.Delete(ctx, Key{Tenant: "t", CallID: "a"}, "n")
	if u := usage(t, st, "t"); u != 0 {
		t.Errorf("every field deleted, still %d bytes counted", u)
	}
}

// TestRedisUsageComesBackAfterExpiry: sessions that expire by TTL give
// their bytes back to their tenant, so a tenant at its quota can write again
// once its old calls are gone; and the store total too.
func TestRedisUsageComesBackAfterExpiry(t *testing.T) {
	st := newTestRedis(t, redistest.Start(t), RedisOptions{Limits: RedisLimits{PerTenant: 40 << 10, Total: 60 << 10}})
	ctx := context.Background()
	big := "s:" + strings.Repeat("x", 9000)
	var err error
	n := 0
	for ; n < 10 && err == nil; n++ {
		err = st.Set(ctx, Key{Tenant: "a", CallID: "old" + string(rune('0'+n))}, "f", big, 500*time.Millisecond)
	}
	if !errors.Is(err, ErrTenantQuota) {
		t.Fatalf("filling the tenant: %v", err)
	}
	// Another tenant takes the rest of the total: the store is full.
	err = nil
	for i := 0; i < 10 && err == nil; i++ {
		err = st.Set(ctx, Key{Tenant: "b", CallID: "c" + string(rune('0'+i))}, "f", big, 500*time.Millisecond)
	}
	if !errors.Is(err, ErrStoreFull) {
		t.Fatalf("filling the store: %v, want ErrStoreFull", err)
	}
	time.Sleep(700 * time.Millisecond)
	for _, tenant := range []string{"a", "b"} {
		if err := st.Set(ctx, Key{Tenant: tenant, CallID: "new"}, "f", big, time.Hour); err != nil {
			t.Errorf("tenant %s after its sessions expired: %v", tenant, err)
		}
		if u, want := usage(t, st, tenant), int64(sessionOverhead+fieldOverhead+1+len(big)); u != want {
			t.Errorf("tenant %s counted for %d bytes after expiry, want %d (its one live session)", tenant, u, want)
		}
	}
	if v, ok, _ := st.Get(ctx, Key{Tenant: "a", CallID: "old0"}, "f"); ok {
		t.Errorf("an expired session still answers %.10q", v)
	}
}

// TestRedisCountsSessionsFromBefore: a session written before quotas existed
// (a bare hash) is counted on its next write, so an upgrade does not hand out
// free bytes.
func TestRedisCountsSessionsFromBefore(t *testing.T) {
	r := redistest.Start(t)
	st := newTestRedis(t, r, RedisOptions{})
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer c.Close()
	k := Key{Tenant: "t", CallID: "legacy"}
	if err := c.HSet(ctx, redisKey(k), "a", "s:12345", "bb", "n:1").Err(); err != nil {
		t.Fatal(err)
	}
	c.Expire(ctx, redisKey(k), time.Hour)
	if _, err := st.Incr(ctx, k, "bb", 1, time.Hour); err != nil {
		t.Fatal(err)
	}
	want := int64(sessionOverhead + 2*fieldOverhead + len("a") + len("s:12345") + len("bb") + len("n:2"))
	if u := usage(t, st, "t"); u != want {
		t.Errorf("legacy session counted for %d bytes, want %d", u, want)
	}
}

// TestRedisCallerDeadlineIsNotAFailure: a call cut short by the caller's own
// deadline (here while Redis hangs) opens no breaker: as soon as Redis
// answers, the same tenant and every other one are served.
func TestRedisCallerDeadlineIsNotAFailure(t *testing.T) {
	r := redistest.Start(t)
	st := newTestRedis(t, r, RedisOptions{})
	resume := r.Hang()
	for _, tenant := range []string{"a", "b", "c", "d"} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		err := st.Set(ctx, Key{Tenant: tenant, CallID: "c"}, "f", "s:v", time.Hour)
		cancel()
		if err == nil {
			t.Fatal("a write to a hung Redis succeeded")
		}
	}
	resume()
	for _, tenant := range []string{"a", "e"} {
		if err := st.Set(context.Background(), Key{Tenant: tenant, CallID: "c"}, "f", "s:v", time.Hour); err != nil {
			t.Errorf("tenant %s after other runs' deadlines fired mid-call: %v", tenant, err)
		}
	}
}

// TestRedisTenantBreaker: a tenant whose calls hit the store's timeout fails
// fast by itself for BreakerOpen; another tenant is not affected.
func TestRedisTenantBreaker(t *testing.T) {
	r := redistest.Start(t)
	st := newTestRedis(t, r, RedisOptions{BreakerOpen: 500 * time.Millisecond})
	ctx := context.Background()
	resume := r.Hang()
	begin := time.Now()
	if err := st.Set(ctx, Key{Tenant: "slow", CallID: "c"}, "f", "s:v", time.Hour); err == nil {
		t.Fatal("a write to a hung Redis succeeded")
	}
	if d := time.Since(begin); d > 400*time.Millisecond {
		t.Errorf("a call to a hung Redis took %v", d)
	}
	resume()
	if err := st.Set(ctx, Key{Tenant: "other", CallID: "c"}, "f", "s:v", time.Hour); err != nil {
		t.Errorf("another tenant after one tenant's timeout: %v", err)
	}
	begin = time.Now()
	err := st.Set(ctx, Key{Tenant: "slow", CallID: "c"}, "f", "s:v", time.Hour)
	if !errors.Is(err, errTenantOpen) || time.Since(begin) > 20*time.Millisecond {
		t.Errorf("the timed-out tenant's next call: %v after %v, want it to fail at once", err, time.Since(begin))
	}
	if d, ok := eventually(3*time.Second, func() bool {
		return st.Set(ctx, Key{Tenant: "slow", CallID: "c"}, "f", "s:v", time.Hour) == nil
	}); !ok {
		t.Errorf("the tenant's breaker did not close in %v", d)
	}
}

// TestRedisGlobalBreaker: when Redis hangs, a few tenants' timeouts make
// every tenant fail fast, and all come back when Redis does.
func TestRedisGlobalBreaker(t *testing.T) {
	r := redistest.Start(t)
	st := newTestRedis(t, r, RedisOptions{BreakerOpen: 500 * time.Millisecond})
	ctx := context.Background()
	resume := r.Hang()
	for _, tenant := range []string{"a", "b", "c"} {
		if _, _, err := st.Get(ctx, Key{Tenant: tenant, CallID: "c"}, "f"); err == nil {
			t.Fatal("a read from a hung Redis succeeded")
		}
	}
	begin := time.Now()
	_, _, err := st.Get(ctx, Key{Tenant: "fresh", CallID: "c"}, "f")
	if !errors.Is(err, errGlobalOpen) || time.Since(begin) > 20*time.Millisecond {
		t.Errorf("a tenant that never timed out, with Redis hung: %v after %v, want at once", err, time.Since(begin))
	}
	resume()
	for _, tenant := range []string{"a", "fresh"} {
		if d, ok := eventually(3*time.Second, func() bool {
			return st.Set(ctx, Key{Tenant: tenant, CallID: "c"}, "f", "s:v", time.Hour) == nil
		}); !ok {
			t.Errorf("tenant %s not served %v after Redis came back", tenant, d)
		}
	}
}

// TestRedisDownAndBackForEveryone: with Redis gone, a refused connection
// (or, on a connection go-redis still trusted, a few tenants' timeouts)
// makes every tenant fail fast; when Redis is back every tenant is served
// again.
func TestRedisDownAndBackForEveryone(t *testing.T) {
	r := redistest.Start(t)
	st := newTestRedis(t, r, RedisOptions{BreakerOpen: 300 * time.Millisecond})
	ctx := context.Background()
	r.Down()
	var err error
	tenants := 0
	for ; tenants < st.opts.GlobalTenants+1 && !errors.Is(err, errGlobalOpen); tenants++ {
		begin := time.Now()
		err = st.Set(ctx, Key{Tenant: "t" + string(rune('a'+tenants)), CallID: "c"}, "f", "s:v", time.Hour)
		if err == nil || !strings.HasPrefix(err.Error(), errPrefix) {
			t.Fatalf("with Redis down: %v", err)
		}
		if d := time.Since(begin); d > st.opts.CallTimeout+100*time.Millisecond {
			t.Errorf("a call with Redis down took %v", d)
		}
	}
	if !errors.Is(err, errGlobalOpen) {
		t.Errorf("after %d tenants' calls failed, a fresh tenant still waits on Redis: %v", tenants-1, err)
	}
	r.Up()
	for _, tenant := range []string{"ta", "fresh"} {
		if d, ok := eventually(5*time.Second, func() bool {
			return st.Set(ctx, Key{Tenant: tenant, CallID: "c"}, "f", "s:v", time.Hour) == nil
		}); !ok {
			t.Errorf("tenant %s not served %v after Redis came back", tenant, d)
		}
	}
}

// TestRedisInFlightBudget: one tenant cannot have more than MaxInFlight
// calls waiting on Redis; the extra ones fail at once.
func TestRedisInFlightBudget(t *testing.T) {
	r := redistest.Start(t)
	st := newTestRedis(t, r, RedisOptions{MaxInFlight: 2})
	ctx := context.Background()
	resume := r.Hang()
	defer resume()
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); st.Get(ctx, Key{Tenant: "busy", CallID: "c"}, "f") }()
	}
	if _, ok := eventually(time.Second, func() bool { return st.tenant("busy", time.Now().UnixNano()).inflight.Load() == 2 }); !ok {
		t.Fatal("the two calls never got in flight")
	}
	begin := time.Now()
	if _, _, err := st.Get(ctx, Key{Tenant: "busy", CallID: "c"}, "f"); !errors.Is(err, errBusy) || time.Since(begin) > 20*time.Millisecond {
		t.Errorf("a third call in flight: %v after %v, want errBusy at once", err, time.Since(begin))
	}
	wg.Wait()
}

// TestRedisTenantMapBounded: thousands of tenants do not grow the breaker
// map past MaxTenants, and churn does not forget a breaker that is open.
func TestRedisTenantMapBounded(t *testing.T) {
	st, err := NewRedisWith("redis://127.0.0.1:1/0", RedisOptions{MaxTenants: 50})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UnixNano()
	st.tenant("open", now).openUntil.Store(now + time.Hour.Nanoseconds())
	for i := 0; i < 2000; i++ {
		st.tenant("t"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune('a'+i/26%26))+string(rune('a'+i/676)), now)
	}
	st.tmu.RLock()
	n, open := len(st.tenants), st.tenants["open"]
	st.tmu.RUnlock()
	if n > 50 {
		t.Errorf("%d tenant entries, want at most 50", n)
	}
	if open == nil {
		t.Error("an open breaker was evicted by other tenants' churn")
	}
}

// eventually polls cond every 20 ms for up to d.
func eventually(d time.Duration, cond func() bool) (time.Duration, bool) {
	begin := time.Now()
	for time.Since(begin) < d {
		if cond() {
			return time.Since(begin), true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(begin), cond()
}

// TestRedisIsNotInProcess: runs give their CPU token up around Redis calls,
// observed or not.
func TestRedisIsNotInProcess(t *testing.T) {
	st := newTestRedis(t, redistest.Start(t), RedisOptions{})
	if InProcess(st) || InProcess(Observe(st, "redis", &countingObserver{})) || NewValues(st).InProcess() {
		t.Error("a Redis store counts as in process: runs would hold their CPU token across network waits")
	}
}
