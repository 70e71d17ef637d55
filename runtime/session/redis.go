package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis keeps sessions in Redis, one hash per call (dialua:s:<tenant>:<CallID>)
// with a TTL renewed on every write, so every dialua node behind a load
// balancer sees the same call. A tenant store key (Values) is a hash of its
// own, dialua:k:<tenant>:<key>, with one field, under the same breakers and
// quotas. While Redis is unreachable, calls fail fast
// with an error the script can handle; the client reconnects by itself.
//
// # Failing fast without letting one tenant switch Redis off
//
// Every call waits at most CallTimeout for Redis. What happens after a
// failure depends on whose failure it is:
//
//   - The caller's own context ending (the run's deadline, a cancelled
//     request) says nothing about Redis and changes no breaker. A script that
//     spins on session calls until its deadline is only stopped.
//   - A timeout of the store's own CallTimeout, the caller still alive, opens
//     that tenant's breaker for BreakerOpen: the tenant's calls then fail at
//     once, every other tenant carries on. Breakers live in a bounded map
//     (MaxTenants entries; entries with a closed breaker and no call in
//     flight are evicted, idle ones first).
//   - The global breaker, which fails every tenant's calls for BreakerOpen,
//     opens when GlobalTenants distinct tenants see store timeouts within
//     BreakerOpen with no call of any tenant succeeding in between (a hung
//     Redis answers no one; a Redis that answers other tenants is not down),
//     or at once on a connection error (refused, reset, dial timeout), which
//     no script can cause. So when Redis is down every tenant learns within
//     a few calls, and a tenant that makes only its own calls time out stays
//     alone. (A run whose deadline is shorter than CallTimeout never sees a
//     store timeout of its own; with Redis hung it waits out its deadline
//     unless other runs open a breaker.)
//   - Each tenant has at most MaxInFlight calls waiting on Redis at once;
//     more fail at once, so one tenant cannot hold the whole connection pool
//     and make everyone else's calls wait for a connection.
//
// # Byte quotas
//
// Writes are bounded like Memory's (PerSession, PerTenant, Total, counted
// the same way: field and value bytes plus fieldOverhead per field and
// sessionOverhead per session), atomically inside the Lua scripts that
// write. Besides the session hashes, the store keeps four bookkeeping keys:
//
//	dialua:exp    sorted set: <tenant>\0<CallID> (or <tenant>\1<key>) -> the session's expiry (ms, Redis clock)
//	dialua:bytes  hash: <tenant>\0<CallID> (or <tenant>\1<key>) -> bytes the session holds
//	dialua:use    hash: <tenant> -> bytes the tenant's sessions hold
//	dialua:total  string: bytes all sessions hold
//
// A write takes Redis's clock (TIME), gives back the bytes of at most
// pruneBatch sessions whose expiry passed (the oldest first, any tenant's),
// then checks the limits and applies its byte delta to all four. Every
// session is created by a write and every write prunes up to pruneBatch
// expired ones, so the expired backlog cannot grow while writes happen and a
// write's cost is bounded (O(pruneBatch log n)). A write also settles its
// own session first: a hash that expired but is still counted is given back,
// and a live hash that is not counted (written before quotas existed) is
// counted from its fields. Deletes give their bytes back at once. The keys
// are fixed names, so all of this needs one Redis (or a primary and its
// replicas), not Redis Cluster. If Redis evicts keys under maxmemory the
// counts drift until the sessions concerned expire; run it with
// maxmemory-policy noeviction. A Redis out-of-memory error is reported as
// ErrStoreFull.
type Redis struct {
	c    *redis.Client
	opts RedisOptions

	// globalUntil (unix nanos): until then every call fails at once.
	globalUntil atomic.Int64
	// lastOK (unix nanos) is when a call last got an answer from Redis.
	lastOK atomic.Int64

	mu      sync.Mutex
	recent  []timeoutAt // store timeouts of distinct tenants since lastOK, < GlobalTenants
	tmu     sync.RWMutex
	tenants map[string]*tenantState
	swept   time.Time // last sweep of idle tenant entries
}

type timeoutAt struct {
	tenant string
	at     int64
}

// tenantState is one tenant's breaker and in-flight budget.
type tenantState struct {
	openUntil atomic.Int64 // unix nanos
	inflight  atomic.Int32
	lastUsed  atomic.Int64 // unix nanos
}

// RedisLimits bound what sessions may hold in Redis, in bytes counted as
// MemoryLimits counts them. Zero values take the same defaults.
type RedisLimits struct {
	PerSession int64 // one call; default 1 MiB
	PerTenant  int64 // all of one tenant's calls; default 64 MiB
	Total      int64 // every tenant's calls together; default 1 GiB
}

// RedisOptions configure NewRedisWith. Zero values take the defaults noted.
type RedisOptions struct {
	Limits RedisLimits
	// CallTimeout bounds one session call's wait for Redis; default 150 ms.
	CallTimeout time.Duration
	// BreakerOpen is how long a breaker stays open; default 1 s.
	BreakerOpen time.Duration
	// GlobalTenants distinct tenants timing out open the global breaker;
	// default 3.
	GlobalTenants int
	// MaxTenants bounds the per-tenant breaker map; default 10000.
	MaxTenants int
	// MaxInFlight bounds one tenant's concurrent calls on this node;
	// default a quarter of the connection pool, at least 4.
	MaxInFlight int
}

// Bookkeeping: how many expired sessions one write gives back at most, and
// how long an idle tenant entry is kept before a sweep may drop it.
const (
	pruneBatch  = 16
	tenantIdle  = time.Minute
	keyExp      = "dialua:exp"
	keyBytes    = "dialua:bytes"
	keyUse      = "dialua:use"
	keyTotal    = "dialua:total"
	errPrefix   = "session store unavailable"
	replyFields = "DIALUA_FIELDS"
	replySess   = "DIALUA_SESSION"
	replyTenant = "DIALUA_TENANT"
	replyTotal  = "DIALUA_TOTAL"
	replyNotNum = "DIALUA_NOTNUM"
)

var (
	errGlobalOpen = errors.New(errPrefix + ": Redis is not answering")
	errTenantOpen = errors.New(errPrefix + ": this tenant's recent calls timed out")
	errBusy       = errors.New(errPrefix + ": too many calls in flight for this tenant")
)

func (o RedisOptions) withDefaults(poolSize int) RedisOptions {
	l := MemoryLimits(o.Limits).withDefaults()
	o.Limits = RedisLimits(l)
	if o.CallTimeout <= 0 {
		o.CallTimeout = 150 * time.Millisecond
	}
	if o.BreakerOpen <= 0 {
		o.BreakerOpen = time.Second
	}
	if o.GlobalTenants <= 0 {
		o.GlobalTenants = 3
	}
	if o.MaxTenants <= 0 {
		o.MaxTenants = 10000
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = max(poolSize/4, 4)
	}
	return o
}

// NewRedis connects to a redis:// or rediss:// URL with the default options.
// It does not wait for Redis to be up: a server that starts before Redis
// works once Redis does.
func NewRedis(url string) (*Redis, error) { return NewRedisWith(url, RedisOptions{}) }

// NewRedisWith is NewRedis with limits and breaker settings.
func NewRedisWith(url string, o RedisOptions) (*Redis, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("session store %q: %w", url, err)
	}
	if opt.PoolSize <= 0 {
		opt.PoolSize = 10 * runtime.GOMAXPROCS(0) // go-redis's own default
	}
	o = o.withDefaults(opt.PoolSize)
	// Fail fast while Redis is down: a script waiting on a dead store would
	// only burn its deadline.
	opt.DialTimeout = o.CallTimeout
	opt.ReadTimeout = o.CallTimeout
	opt.WriteTimeout = o.CallTimeout
	opt.MaxRetries = 0
	// One dial attempt: go-redis's default retries a refused dial with
	// backoff, which outlasts CallTimeout and turns "Redis is down" (a
	// connection error, for the global breaker) into a timeout.
	opt.DialerRetries = 1
	opt.ContextTimeoutEnabled = true
	return &Redis{c: redis.NewClient(opt), opts: o, tenants: map[string]*tenantState{}}, nil
}

// call runs one Redis operation for tenant under the per-call timeout, the
// breakers and the tenant's in-flight budget (see the type's doc).
func (r *Redis) call(ctx context.Context, tenant string, op func(ctx context.Context) error) error {
	if err := ctx.Err(); err != nil {
		return err // the run is over: do not spend a Redis round trip on it
	}
	now := time.Now().UnixNano()
	if now < r.globalUntil.Load() {
		return errGlobalOpen
	}
	ts := r.tenant(tenant, now)
	if now < ts.openUntil.Load() {
		return errTenantOpen
	}
	if ts.inflight.Add(1) > int32(r.opts.MaxInFlight) {
		ts.inflight.Add(-1)
		return errBusy
	}
	defer ts.inflight.Add(-1)
	cctx, cancel := context.WithTimeout(ctx, r.opts.CallTimeout)
	defer cancel()
	err := op(cctx)
	done := time.Now().UnixNano()
	var reply redis.Error
	switch {
	case err == nil || errors.Is(err, redis.Nil) || errors.As(err, &reply):
		// Redis answered, if only with an error reply.
		r.lastOK.Store(done)
	case ctx.Err() != nil:
		// The caller's deadline or cancellation cut the call short; that
		// is the run's business, not a sign of Redis failing.
	case isConnError(err):
		r.globalUntil.Store(done + r.opts.BreakerOpen.Nanoseconds())
	case isTimeout(err):
		ts.openUntil.Store(done + r.opts.BreakerOpen.Nanoseconds())
		r.noteTimeout(tenant, done)
	}
	return err
}

// noteTimeout records a store timeout of tenant and opens the global
// breaker once GlobalTenants distinct tenants timed out within BreakerOpen
// with no answer from Redis in between.
func (r *Redis) noteTimeout(tenant string, now int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	since := max(r.lastOK.Load(), now-r.opts.BreakerOpen.Nanoseconds())
	keep := r.recent[:0]
	for _, e := range r.recent {
		if e.at > since && e.tenant != tenant {
			keep = append(keep, e)
		}
	}
	keep = append(keep, timeoutAt{tenant, now})
	if len(keep) >= r.opts.GlobalTenants {
		r.globalUntil.Store(now + r.opts.BreakerOpen.Nanoseconds())
		keep = keep[:0]
	}
	r.recent = keep
}

// tenant returns tenant's state, making it if needed within MaxTenants.
func (r *Redis) tenant(name string, now int64) *tenantState {
	r.tmu.RLock()
	ts := r.tenants[name]
	r.tmu.RUnlock()
	if ts == nil {
		r.tmu.Lock()
		if ts = r.tenants[name]; ts == nil {
			r.makeRoom(now)
			ts = &tenantState{}
			r.tenants[name] = ts
		}
		r.tmu.Unlock()
	}
	ts.lastUsed.Store(now)
	return ts
}

// makeRoom drops tenant entries that hold nothing worth keeping (breaker
// closed, no call in flight): every such entry idle for tenantIdle, at most
// once per tenantIdle or whenever the map is full, and if the map is still
// full, any one such entry, or failing that any entry, so the map never
// passes MaxTenants. Called with tmu held.
func (r *Redis) makeRoom(now int64) {
	full := len(r.tenants) >= r.opts.MaxTenants
	t := time.Unix(0, now)
	if !full && t.Sub(r.swept) < tenantIdle {
		return
	}
	r.swept = t
	idle := now - tenantIdle.Nanoseconds()
	for name, ts := range r.tenants {
		if ts.inflight.Load() == 0 && ts.openUntil.Load() < now && ts.lastUsed.Load() < idle {
			delete(r.tenants, name)
		}
	}
	if len(r.tenants) < r.opts.MaxTenants {
		return
	}
	var victim string
	found := false
	for name, ts := range r.tenants {
		if !found {
			victim, found = name, true
		}
		if ts.inflight.Load() == 0 && ts.openUntil.Load() < now {
			victim = name
			break
		}
	}
	delete(r.tenants, victim)
}

// isConnError reports a failure to reach Redis at all: no script can cause
// one, so it says Redis (or the way to it) is down for everyone.
func isConnError(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, redis.ErrPoolTimeout) ||
		errors.As(err, &ne) && ne.Timeout()
}

// redisKey is the hash of a session (dialua:s:) or of a tenant store key
// (dialua:k:); a tenant name holds no ':', so the next one ends it.
func redisKey(k Key) string {
	if k.Kind == TenantKey {
		return "dialua:k:" + k.Tenant + ":" + k.CallID
	}
	return "dialua:s:" + k.Tenant + ":" + k.CallID
}

// member names a session (tenant NUL CallID) or a tenant store key (tenant
// \x01 key) in the bookkeeping keys; tenant names (folder names) hold
// neither byte, so the first of them ends the tenant and says the kind.
func member(k Key) string {
	if k.Kind == TenantKey {
		return k.Tenant + "\x01" + k.CallID
	}
	return k.Tenant + "\x00" + k.CallID
}

func bookKeys(k Key) []string { return []string{redisKey(k), keyExp, keyBytes, keyUse, keyTotal} }

// Ping checks the connection (for start-up logs and tests).
func (r *Redis) Ping(ctx context.Context) error { return r.c.Ping(ctx).Err() }

func (r *Redis) Get(ctx context.Context, k Key, field string) (string, bool, error) {
	var v string
	err := r.call(ctx, k.Tenant, func(ctx context.Context) (err error) {
		v, err = r.c.HGet(ctx, redisKey(k), field).Result()
		return err
	})
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, storeErr(err)
	}
	return v, true, nil
}

// luaRelease is shared by the scripts: release(m, tenant) gives back what
// session m is counted for and forgets it.
const luaRelease = `
local function release(m, tn)
  local b = tonumber(redis.call('HGET', KEYS[3], m) or '0')
  if b ~= 0 then
    if redis.call('HINCRBY', KEYS[4], tn, -b) <= 0 then redis.call('HDEL', KEYS[4], tn) end
    if redis.call('DECRBY', KEYS[5], b) <= 0 then redis.call('DEL', KEYS[5]) end
  end
  redis.call('HDEL', KEYS[3], m)
  redis.call('ZREM', KEYS[2], m)
end
`

// writeScript sets (ARGV[1] 'set': ARGV[3] is the value) or increments
// (ARGV[1] 'incr': ARGV[3] is the delta) one field within the limits and
// returns the stored value. KEYS: the session hash and bookKeys' four.
// ARGV[4..]: ttl ms, max fields, per-session, per-tenant and total limits,
// tenant, member, field overhead, session overhead, prune batch.
var writeScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
` + luaRelease + `
local mode, field, arg, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local maxFields, perSession, perTenant, maxTotal = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local tenant, member = ARGV[9], ARGV[10]
local FIELD, SESSION = tonumber(ARGV[11]), tonumber(ARGV[12])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

-- Give back a bounded number of expired sessions, the oldest first. The
-- hashes expired at their score; 10 ms of slack keeps clear of the moment
-- itself.
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. (now - 10), 'LIMIT', 0, tonumber(ARGV[13]))) do
  local i = string.find(m, '[%z\1]')
  if i then release(m, string.sub(m, 1, i - 1)) else redis.call('ZREM', KEYS[2], m) end
end

-- Settle this session's own count.
local exists = redis.call('EXISTS', KEYS[1]) == 1
local cur = redis.call('HGET', KEYS[3], member)
if not exists then
  if cur then release(member, tenant) end
  cur = 0
elseif cur then
  cur = tonumber(cur)
else
  cur = SESSION
  for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
    cur = cur + #f + FIELD + redis.call('HSTRLEN', KEYS[1], f)
  end
  redis.call('HSET', KEYS[3], member, cur)
  redis.call('HINCRBY', KEYS[4], tenant, cur)
  redis.call('INCRBY', KEYS[5], cur)
end

local old = false
if exists then old = redis.call('HGET', KEYS[1], field) end
local new = arg
if mode == 'incr' then
  local x = 0
  if old then
    if string.sub(old, 1, 2) ~= 'n:' then return redis.error_reply('` + replyNotNum + `') end
    x = tonumber(string.sub(old, 3))
  end
  new = 'n:' .. string.format('%.17g', x + tonumber(arg))
end
if not old and exists and redis.call('HLEN', KEYS[1]) >= maxFields then
  return redis.error_reply('` + replyFields + `')
end

local n = #new
if old then n = n - #old else n = n + #field + FIELD end
if not exists then n = n + SESSION end
if n > 0 then
  if cur + n > perSession then return redis.error_reply('` + replySess + `') end
  if tonumber(redis.call('HGET', KEYS[4], tenant) or '0') + n > perTenant then
    return redis.error_reply('` + replyTenant + `')
  end
  if tonumber(redis.call('GET', KEYS[5]) or '0') + n > maxTotal then
    return redis.error_reply('` + replyTotal + `')
  end
end

local expires = now + ttl
redis.call('HSET', KEYS[1], field, new)
redis.call('PEXPIREAT', KEYS[1], expires)
redis.call('ZADD', KEYS[2], expires, member)
redis.call('HSET', KEYS[3], member, cur + n)
if redis.call('HINCRBY', KEYS[4], tenant, n) <= 0 then redis.call('HDEL', KEYS[4], tenant) end
if redis.call('INCRBY', KEYS[5], n) <= 0 then redis.call('DEL', KEYS[5]) end
return new`)

// write runs writeScript; value is the value to set or the delta to add.
func (r *Redis) write(ctx context.Context, k Key, mode, field, value string, ttl time.Duration) (string, error) {
	l := r.opts.Limits
	var s string
	err := r.call(ctx, k.Tenant, func(ctx context.Context) (err error) {
		s, err = writeScript.Run(ctx, r.c, bookKeys(k), mode, field, value,
			max(ttl.Milliseconds(), 1), MaxFields, l.PerSession, l.PerTenant, l.Total,
			k.Tenant, member(k), fieldOverhead, sessionOverhead, pruneBatch).Text()
		return err
	})
	return s, storeErr(err)
}

func (r *Redis) Set(ctx context.Context, k Key, field, value string, ttl time.Duration) error {
	if len(value) > MaxValueBytes+2 {
		return ErrValueTooLarge
	}
	_, err := r.write(ctx, k, "set", field, value, ttl)
	return err
}

func (r *Redis) Incr(ctx context.Context, k Key, field string, delta float64, ttl time.Duration) (float64, error) {
	s, err := r.write(ctx, k, "incr", field, strconv.FormatFloat(delta, 'g', -1, 64), ttl)
	if err != nil {
		return 0, err
	}
	return DecodeNumber(s)
}

// deleteScript removes one field and gives its bytes back, and the whole
// session's when it was the last field (Redis drops an empty hash).
// KEYS as writeScript's; ARGV: field, tenant, member, field overhead.
var deleteScript = redis.NewScript(luaRelease + `
local field, tenant, member = ARGV[1], ARGV[2], ARGV[3]
if redis.call('EXISTS', KEYS[1]) == 0 then
  if redis.call('HEXISTS', KEYS[3], member) == 1 then release(member, tenant) end
  return 0
end
local v = redis.call('HGET', KEYS[1], field)
if not v then return 0 end
redis.call('HDEL', KEYS[1], field)
if not redis.call('HGET', KEYS[3], member) then return 1 end
if redis.call('EXISTS', KEYS[1]) == 0 then
  release(member, tenant)
  return 1
end
local n = #field + #v + tonumber(ARGV[4])
redis.call('HINCRBY', KEYS[3], member, -n)
if redis.call('HINCRBY', KEYS[4], tenant, -n) <= 0 then redis.call('HDEL', KEYS[4], tenant) end
if redis.call('DECRBY', KEYS[5], n) <= 0 then redis.call('DEL', KEYS[5]) end
return 1`)

func (r *Redis) Delete(ctx context.Context, k Key, field string) error {
	return storeErr(r.call(ctx, k.Tenant, func(ctx context.Context) error {
		return deleteScript.Run(ctx, r.c, bookKeys(k), field, k.Tenant, member(k), fieldOverhead).Err()
	}))
}

// Usage reports the bytes a tenant's sessions are counted for (for tests and
// metrics). Sessions that expired count until a write gives them back.
func (r *Redis) Usage(ctx context.Context, tenant string) (int64, error) {
	n, err := r.c.HGet(ctx, keyUse, tenant).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return n, err
}

func (r *Redis) Close() error { return r.c.Close() }

// storeErr maps the scripts' error replies to the package's errors and says
// plainly that the store is unreachable otherwise.
func storeErr(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, errPrefix):
		return err
	case strings.Contains(msg, replyFields):
		return ErrTooManyFields
	case strings.Contains(msg, replySess):
		return ErrSessionFull
	case strings.Contains(msg, replyTenant):
		return ErrTenantQuota
	case strings.Contains(msg, replyTotal), strings.HasPrefix(msg, "OOM "):
		return ErrStoreFull
	case strings.Contains(msg, replyNotNum):
		return ErrNotNumber
	}
	return fmt.Errorf("%s: %w", errPrefix, err)
}
