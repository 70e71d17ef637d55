package deploy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dialua/dialua/runtime/loader"
)

// ErrUnreachable wraps every error of a Redis store that could not reach
// Redis (refused, reset, timed out): the change was not made; try again
// once Redis is back. The admin API answers it with 503.
var ErrUnreachable = errors.New("release store unreachable")

// Redis is the Store shared by several nodes: releases and their state in
// one Redis, every node following every change within a second. Keys
// (docs/releases.md), with P the prefix ("dialua:rel:"):
//
//	P tenants            set: tenants that have releases
//	P gen                string: counter, incremented by every change of any tenant
//	P changes            hash: tenant -> counter, incremented by every change of that tenant
//	P t:<tenant>:seq      string: the tenant's last version (INCR: two nodes never get the same)
//	P t:<tenant>:releases sorted set: release id -> version
//	P t:<tenant>:r:<id>   hash: "release" -> the Release as JSON, "f:<path>" -> the file's bytes
//	P t:<tenant>:state    hash: active, canary, percent
//	P notify             channel: "<tenant> <counter>" after each change (" -" appended for a removal)
//
// Every write is one Lua script (the release and its bookkeeping at once;
// a state change with its checks), which also bumps the counters and
// publishes the notice. A node reports a change to its subscribers on the
// notice, and every ReconcileEvery compares P gen with the last it saw and,
// when it moved, P changes with its own counters, so a missed notice or a
// node that was cut off catches up. Its own changes it reports before the
// call returns, as Disk does.
//
// A node keeps in memory the release descriptions and the files it has
// read (releases never change), bounded by CacheBytes: while Redis is
// unreachable it keeps serving them (the Picker keeps its state; nothing
// is reported), logs once that the store is unreachable and once that it
// is back, Ping fails (so /readyz says so), and every change fails with
// ErrUnreachable. Fixed key names: one Redis (or a primary and replicas),
// not Redis Cluster.
type Redis struct {
	c      *redis.Client
	ps     *redis.PubSub
	o      RedisOptions
	prefix string
	ctx    context.Context
	stop   context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool

	mu      sync.Mutex // seen, lastGen, epoch
	seen    map[string]int64
	lastGen int64
	epoch   string // P epoch as last read: another means Redis lost its data

	down    atomic.Bool
	lastErr atomic.Value // string: why the reconcile last failed
	missed  atomic.Bool  // a read failed for want of Redis: reload everything once it is back
	drop    atomic.Bool  // tests: ignore notices, as if the subscription had lost them

	cmu   sync.Mutex // the caches below
	metas map[string]Release
	files map[string]map[string][]byte // tenant "\x00" id -> path -> bytes
	bytes int64

	// Subscribe: changes made by this node are reported before the call
	// returns; other nodes' on their notice or at the next reconcile.
	subscribers
}

// RedisOptions configure OpenRedis. Zero values take the defaults noted.
type RedisOptions struct {
	Logger *slog.Logger // default: discard
	// Prefix of every key and of the channel; default "dialua:rel:".
	Prefix string
	// ReconcileEvery is how often a node compares its counters with
	// Redis's; default 500 ms.
	ReconcileEvery time.Duration
	// Timeout bounds one read or state change; default 2 s. Storing a
	// release gets WriteTimeout; default 30 s.
	Timeout      time.Duration
	WriteTimeout time.Duration
	// CacheBytes bounds the release files kept in memory; default 128 MiB.
	CacheBytes int64
}

// OpenRedis connects to a redis:// (or rediss://) URL, subscribes to the
// notices and reads the counters. Redis must answer: a node cannot start
// serving releases it cannot read.
func OpenRedis(url string, o RedisOptions) (*Redis, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("release store %q: %w", url, err)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Prefix == "" {
		o.Prefix = "dialua:rel:"
	}
	if o.ReconcileEvery <= 0 {
		o.ReconcileEvery = 500 * time.Millisecond
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 30 * time.Second
	}
	if o.CacheBytes <= 0 {
		o.CacheBytes = 128 << 20
	}
	// Each call's context carries its deadline; the client's own timeouts
	// only bound what a context does not.
	opt.DialTimeout = min(o.Timeout, 500*time.Millisecond)
	opt.ReadTimeout = o.WriteTimeout
	opt.WriteTimeout = o.WriteTimeout
	opt.ContextTimeoutEnabled = true
	opt.MaxRetries = 0
	opt.DialerRetries = 1
	s := &Redis{c: redis.NewClient(opt), o: o, prefix: o.Prefix, seen: map[string]int64{},
		metas: map[string]Release{}, files: map[string]map[string][]byte{}}
	s.ctx, s.stop = context.WithCancel(context.Background())
	ctx, cancel := context.WithTimeout(s.ctx, o.Timeout)
	defer cancel()
	// Subscribed before the counters are read, so no change in between is
	// missed.
	s.ps = s.c.Subscribe(ctx, s.prefix+"notify")
	if _, err := s.ps.Receive(ctx); err != nil {
		s.ps.Close()
		s.c.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, opt.Addr, err)
	}
	if err := s.sync(ctx, false); err != nil {
		s.ps.Close()
		s.c.Close()
		return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, opt.Addr, err)
	}
	s.wg.Add(2)
	go s.listen()
	go s.reconcile()
	return s, nil
}

func (s *Redis) tkey(tenant, what string) string { return s.prefix + "t:" + tenant + ":" + what }
func (s *Redis) rkey(tenant, id string) string   { return s.prefix + "t:" + tenant + ":r:" + id }

// Close stops following Redis and closes the connections.
func (s *Redis) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.stop()
	s.ps.Close()
	s.wg.Wait()
	return s.c.Close()
}

// Ping says whether Redis answers (for /readyz).
func (s *Redis) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	return s.fail(ctx, s.c.Ping(ctx).Err())
}

// DropNotices makes the store ignore notices (true) as if its
// subscription lost them, so only the reconcile follows changes: for
// tests.
func (s *Redis) DropNotices(drop bool) { s.drop.Store(drop) }

// fail maps a go-redis error: Redis's own error replies stay errors of the
// store, the caller's ended context stays the caller's, anything else is
// ErrUnreachable.
func (s *Redis) fail(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if s.closed.Load() || errors.Is(err, redis.ErrClosed) {
		return ErrClosed
	}
	var reply redis.Error
	if errors.As(err, &reply) {
		return fmt.Errorf("release store: %w", err)
	}
	if cerr := context.Cause(ctx); cerr != nil && !errors.Is(cerr, context.DeadlineExceeded) {
		return cerr
	}
	s.missed.Store(true)
	return fmt.Errorf("%w: %v", ErrUnreachable, err)
}

// op runs f with the store's timeout, after the checks every method makes.
func (s *Redis) op(ctx context.Context, tenant string, d time.Duration, f func(ctx context.Context) error) error {
	if tenant != "\x00" {
		if err := checkTenant(tenant); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	if s.down.Load() {
		// Fail at once while the reconcile finds Redis unreachable,
		// rather than each call waiting out its timeout.
		why, _ := s.lastErr.Load().(string)
		return fmt.Errorf("%w: %s", ErrUnreachable, why)
	}
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	err := f(cctx)
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// changed records a tenant's counter as of a change this node made or
// heard of; it says whether that is news.
func (s *Redis) changed(tenant string, n int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= s.seen[tenant] {
		return false
	}
	s.seen[tenant] = n
	return true
}

// listen reports the tenants named by notices.
func (s *Redis) listen() {
	defer s.wg.Done()
	for {
		m, err := s.ps.ReceiveMessage(s.ctx)
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			// Down: the reconcile says so; try again shortly (go-redis
			// reconnects and subscribes again).
			select {
			case <-s.ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		if s.drop.Load() {
			continue
		}
		f := strings.Fields(m.Payload)
		if len(f) < 2 || !ValidTenant(f[0]) {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		if len(f) > 2 && f[2] == "-" {
			s.purge(f[0])
		}
		if s.changed(f[0], n) {
			s.notify(f[0])
		}
	}
}

// reconcile compares the counters every ReconcileEvery.
func (s *Redis) reconcile() {
	defer s.wg.Done()
	t := time.NewTicker(s.o.ReconcileEvery)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(s.ctx, min(s.o.Timeout, max(s.o.ReconcileEvery, 100*time.Millisecond)))
		err := s.sync(ctx, true)
		cancel()
		if s.ctx.Err() != nil {
			return
		}
		if err != nil {
			s.lastErr.Store(err.Error())
			if !s.down.Swap(true) {
				s.o.Logger.Error("release store unreachable: serving the releases this node has; deploys fail until it is back", "err", err)
			}
			continue
		}
		if s.down.Swap(false) {
			s.o.Logger.Info("release store reachable again")
		}
		if s.missed.Swap(false) {
			s.notify("") // a reload may have failed meanwhile: every tenant again
		}
	}
}

// sync reads the global counter and, when it moved (or after a failure),
// every tenant's; with report, the tenants whose counter differs are
// reported (and those that vanished).
func (s *Redis) sync(ctx context.Context, report bool) error {
	// A fresh proposal each time: an emptied Redis gets an epoch no node
	// has seen.
	var rnd [8]byte
	rand.Read(rnd[:])
	var ec, gc *redis.StringCmd
	_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SetNX(ctx, s.prefix+"epoch", hex.EncodeToString(rnd[:]), 0)
		ec = p.Get(ctx, s.prefix+"epoch")
		gc = p.Get(ctx, s.prefix+"gen")
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	epoch := ec.Val()
	gen, _ := gc.Int64()
	var old []string
	s.mu.Lock()
	reset := s.epoch != "" && epoch != s.epoch
	s.epoch = epoch
	if reset {
		// The counters started again: what this node saw means nothing.
		for t := range s.seen {
			old = append(old, t)
		}
		s.seen = map[string]int64{}
	}
	same := report && !reset && gen == s.lastGen && !s.down.Load()
	s.mu.Unlock()
	if reset {
		s.o.Logger.Warn("release store: Redis lost its data (restarted without persistence, or flushed); following what it holds now", "tenants_before", len(old))
	}
	if same {
		return nil
	}
	var hc *redis.MapStringStringCmd
	var sc *redis.StringSliceCmd
	_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		hc = p.HGetAll(ctx, s.prefix+"changes")
		sc = p.SMembers(ctx, s.prefix+"tenants")
		return nil
	})
	if err != nil {
		return err
	}
	all, tenants := hc.Val(), sc.Val()
	live := make(map[string]bool, len(tenants))
	for _, t := range tenants {
		live[t] = true
	}
	news := old
	s.mu.Lock()
	for t, v := range all {
		n, _ := strconv.ParseInt(v, 10, 64)
		if s.seen[t] != n {
			s.seen[t] = n
			news = append(news, t)
		}
	}
	for t := range s.seen {
		if _, ok := all[t]; !ok {
			delete(s.seen, t)
			news = append(news, t)
		}
	}
	s.lastGen = gen
	s.mu.Unlock()
	if !report {
		return nil
	}
	sort.Strings(news)
	news = slices.Compact(news)
	for _, t := range news {
		if !live[t] {
			s.purge(t)
		}
		s.notify(t)
	}
	return nil
}

// The scripts. Each change bumps P changes[tenant] and P gen and publishes
// "<tenant> <counter>"; failures are status strings.
var (
	createScript = redis.NewScript(`
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
if seq < tonumber(ARGV[1]) then return 'GONE' end
if redis.call('EXISTS', KEYS[3]) == 1 then return 'EXISTS' end
redis.call('HSET', KEYS[3], 'release', ARGV[4])
for i = 6, #ARGV, 2 do
  redis.call('HSET', KEYS[3], 'f:' .. ARGV[i], ARGV[i+1])
end
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[4], ARGV[3])
local n = redis.call('HINCRBY', KEYS[5], ARGV[3], 1)
redis.call('INCR', KEYS[6])
redis.call('PUBLISH', ARGV[5], ARGV[3] .. ' ' .. n)
return n
`)
	activateScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOTENANT' end
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 'NORELEASE' end
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'active', ARGV[1])
local n = redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
redis.call('INCR', KEYS[4])
redis.call('PUBLISH', ARGV[3], ARGV[2] .. ' ' .. n)
return n
`)
	canaryScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOTENANT' end
if ARGV[1] == '' or ARGV[2] == '0' then
  redis.call('HDEL', KEYS[2], 'canary', 'percent')
else
  if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 'NORELEASE' end
  local active = redis.call('HGET', KEYS[2], 'active')
  if not active then return 'NOACTIVE' end
  if active == ARGV[1] then return 'SAME' end
  redis.call('HSET', KEYS[2], 'canary', ARGV[1], 'percent', ARGV[2])
end
local n = redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
redis.call('INCR', KEYS[4])
redis.call('PUBLISH', ARGV[4], ARGV[3] .. ' ' .. n)
return n
`)
	removeScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 'NOTENANT' end
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  redis.call('UNLINK', ARGV[3] .. id)
end
redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3])
redis.call('SREM', KEYS[4], ARGV[1])
local n = redis.call('HINCRBY', KEYS[5], ARGV[1], 1)
redis.call('INCR', KEYS[6])
redis.call('PUBLISH', ARGV[2], ARGV[1] .. ' ' .. n .. ' -')
return n
`)
)

// outcome turns a script's answer into the counter or the store's error.
func outcome(tenant, id string, v any) (int64, error) {
	switch v := v.(type) {
	case int64:
		return v, nil
	case string:
		switch v {
		case "NOTENANT":
			return 0, fmt.Errorf("%w: %s", ErrNoTenant, tenant)
		case "NORELEASE":
			return 0, fmt.Errorf("%w: %s has no release %s", ErrNoRelease, tenant, id)
		case "NOACTIVE":
			return 0, fmt.Errorf("%w: %s has no active release for the rest of the calls; activate one first", ErrConflict, tenant)
		case "SAME":
			return 0, fmt.Errorf("%w: %s is already the active release", ErrConflict, id)
		case "GONE":
			return 0, fmt.Errorf("%w: %s was removed while release %s was being stored; upload it again", ErrConflict, tenant, id)
		case "EXISTS":
			return 0, fmt.Errorf("%w: %s already has a release %s", ErrConflict, tenant, id)
		}
	}
	return 0, fmt.Errorf("release store: unexpected answer %v", v)
}

// Create: see Store. The version comes from INCR, so concurrent Creates on
// any nodes get distinct versions; the release and its bookkeeping are
// written by one script.
func (s *Redis) Create(ctx context.Context, tenant string, files Files, message string) (Release, error) {
	if len(files) == 0 {
		return Release{}, refuse("", "a release needs at least one file")
	}
	for p, b := range files {
		if q, err := entryPath(p); err != nil || q != p || p == "" {
			return Release{}, refuse(p, "not a valid path in a tenant's tree")
		}
		if len(b) > loader.MaxScriptBytes {
			return Release{}, refuse(p, "is %d bytes; a script or module may be at most %d", len(b), loader.MaxScriptBytes)
		}
	}
	var r Release
	err := s.op(ctx, tenant, s.o.WriteTimeout, func(ctx context.Context) error {
		ictx, cancel := context.WithTimeout(ctx, s.o.Timeout)
		v, err := s.c.Incr(ictx, s.tkey(tenant, "seq")).Result()
		err = s.fail(ictx, err)
		cancel()
		if err != nil {
			return err
		}
		hash := ContentHash(files)
		r = Release{ID: MakeID(int(v), hash), Version: int(v), Hash: hash,
			Created: time.Now().UTC().Truncate(time.Millisecond), Message: message, Files: infos(files)}
		meta, err := json.Marshal(r)
		if err != nil {
			return err
		}
		args := make([]any, 0, 5+2*len(files))
		args = append(args, v, r.ID, tenant, meta, s.prefix+"notify")
		for _, p := range files.Paths() {
			args = append(args, p, files[p])
		}
		keys := []string{s.tkey(tenant, "seq"), s.tkey(tenant, "releases"), s.rkey(tenant, r.ID),
			s.prefix + "tenants", s.prefix + "changes", s.prefix + "gen"}
		res, err := createScript.Run(ctx, s.c, keys, args...).Result()
		if err != nil {
			return s.fail(ctx, err)
		}
		n, err := outcome(tenant, r.ID, res)
		if err != nil {
			return err
		}
		s.keepMeta(tenant, r)
		for _, p := range files.Paths() {
			s.keepFile(tenant, r.ID, p, files[p])
		}
		s.changed(tenant, n)
		return nil
	})
	if err != nil {
		return Release{}, err
	}
	s.notify(tenant)
	return r, nil
}

// Releases: see Store. Descriptions already read come from memory.
func (s *Redis) Releases(ctx context.Context, tenant string) ([]Release, error) {
	var out []Release
	err := s.op(ctx, tenant, s.o.Timeout, func(ctx context.Context) error {
		ids, err := s.c.ZRange(ctx, s.tkey(tenant, "releases"), 0, -1).Result()
		if err != nil {
			return s.fail(ctx, err)
		}
		out = make([]Release, 0, len(ids))
		var missing []string
		have := map[string]Release{}
		for _, id := range ids {
			if r, ok := s.meta(tenant, id); ok {
				have[id] = r
			} else {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			cmds, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, id := range missing {
					p.HGet(ctx, s.rkey(tenant, id), "release")
				}
				return nil
			})
			if err != nil && !errors.Is(err, redis.Nil) {
				return s.fail(ctx, err)
			}
			for i, c := range cmds {
				b, err := c.(*redis.StringCmd).Bytes()
				if err != nil {
					continue // removed meanwhile
				}
				var r Release
				if err := json.Unmarshal(b, &r); err != nil || r.ID != missing[i] {
					s.o.Logger.Warn("release store: a release's description is unreadable; ignored", "tenant", tenant, "release", missing[i])
					continue
				}
				s.keepMeta(tenant, r)
				have[r.ID] = r
			}
		}
		for _, id := range ids {
			if r, ok := have[id]; ok {
				out = append(out, r)
			}
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].Version < out[j].Version })
		return nil
	})
	return out, err
}

// Release: see Store. While Redis is unreachable, a release this node has
// read before is answered from memory.
func (s *Redis) Release(ctx context.Context, tenant, id string) (Release, error) {
	if _, err := ParseID(id); err != nil {
		return Release{}, err
	}
	if r, ok := s.meta(tenant, id); ok && s.down.Load() && ValidTenant(tenant) && !s.closed.Load() {
		return r, nil // releases never change
	}
	var r Release
	err := s.op(ctx, tenant, s.o.Timeout, func(ctx context.Context) error {
		cached, ok := s.meta(tenant, id)
		var ex *redis.IntCmd
		var sc *redis.FloatCmd
		var hc *redis.StringCmd
		_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			ex = p.Exists(ctx, s.tkey(tenant, "releases"))
			sc = p.ZScore(ctx, s.tkey(tenant, "releases"), id)
			if !ok {
				hc = p.HGet(ctx, s.rkey(tenant, id), "release")
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			err = s.fail(ctx, err)
			if ok && errors.Is(err, ErrUnreachable) {
				r = cached // releases never change
				return nil
			}
			return err
		}
		if ex.Val() == 0 {
			return fmt.Errorf("%w: %s", ErrNoTenant, tenant)
		}
		if sc.Err() != nil {
			return fmt.Errorf("%w: %s has no release %s", ErrNoRelease, tenant, id)
		}
		if ok {
			r = cached
			return nil
		}
		b, err := hc.Bytes()
		if err != nil {
			return fmt.Errorf("%w: %s has no release %s", ErrNoRelease, tenant, id)
		}
		if err := json.Unmarshal(b, &r); err != nil || r.ID != id {
			return fmt.Errorf("release store: %s/%s: unreadable description", tenant, id)
		}
		s.keepMeta(tenant, r)
		return nil
	})
	if err != nil {
		return Release{}, err
	}
	return r, nil
}

// ReadFile: see Store. A file this node has read before comes from memory
// (releases never change; a removed tenant's are dropped).
func (s *Redis) ReadFile(ctx context.Context, tenant, id, path string) ([]byte, error) {
	if _, err := ParseID(id); err != nil {
		return nil, err
	}
	if p, err := entryPath(path); err != nil || p != path || p == "" {
		return nil, fmt.Errorf("%w: %q", ErrNoFile, path)
	}
	if b, ok := s.file(tenant, id, path); ok && ValidTenant(tenant) && !s.closed.Load() {
		return b, nil
	}
	var out []byte
	err := s.op(ctx, tenant, s.o.Timeout, func(ctx context.Context) error {
		var fc *redis.StringCmd
		var ex *redis.IntCmd
		var sc *redis.FloatCmd
		_, err := s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			fc = p.HGet(ctx, s.rkey(tenant, id), "f:"+path)
			ex = p.Exists(ctx, s.tkey(tenant, "releases"))
			sc = p.ZScore(ctx, s.tkey(tenant, "releases"), id)
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return s.fail(ctx, err)
		}
		switch {
		case ex.Val() == 0:
			return fmt.Errorf("%w: %s", ErrNoTenant, tenant)
		case sc.Err() != nil:
			return fmt.Errorf("%w: %s has no release %s", ErrNoRelease, tenant, id)
		case fc.Err() != nil:
			return fmt.Errorf("%w: %s in %s/%s", ErrNoFile, path, tenant, id)
		}
		out, _ = fc.Bytes()
		s.keepFile(tenant, id, path, out)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// State: see Store.
func (s *Redis) State(ctx context.Context, tenant string) (State, error) {
	var st State
	err := s.op(ctx, tenant, s.o.Timeout, func(ctx context.Context) error {
		v, err := s.c.HMGet(ctx, s.tkey(tenant, "state"), "active", "canary", "percent").Result()
		if err != nil {
			return s.fail(ctx, err)
		}
		a, _ := v[0].(string)
		c, _ := v[1].(string)
		p, _ := v[2].(string)
		st.Active = a
		if n, _ := strconv.Atoi(p); a != "" && c != "" && n > 0 {
			st.Canary = &Canary{Release: c, Percent: n}
		}
		return nil
	})
	return st, err
}

// Activate: see Store.
func (s *Redis) Activate(ctx context.Context, tenant, id string) error {
	if _, err := ParseID(id); err != nil {
		return err
	}
	return s.change(ctx, tenant, id, activateScript,
		[]string{s.tkey(tenant, "releases"), s.tkey(tenant, "state"), s.prefix + "changes", s.prefix + "gen"},
		id, tenant, s.prefix+"notify")
}

// SetCanary: see Store.
func (s *Redis) SetCanary(ctx context.Context, tenant, id string, percent int) error {
	if id != "" && percent != 0 {
		if _, err := ParseID(id); err != nil {
			return err
		}
		if percent < 1 || percent > 99 {
			return fmt.Errorf("%w: canary percent %d: use 1 to 99 (activate the release for 100)", ErrConflict, percent)
		}
	} else {
		id, percent = "", 0
	}
	return s.change(ctx, tenant, id, canaryScript,
		[]string{s.tkey(tenant, "releases"), s.tkey(tenant, "state"), s.prefix + "changes", s.prefix + "gen"},
		id, percent, tenant, s.prefix+"notify")
}

// RemoveTenant: see Store. Its releases, state and version counter go at
// once (a new release starts again at version 1).
func (s *Redis) RemoveTenant(ctx context.Context, tenant string) error {
	err := s.change(ctx, tenant, "", removeScript,
		[]string{s.tkey(tenant, "releases"), s.tkey(tenant, "state"), s.tkey(tenant, "seq"),
			s.prefix + "tenants", s.prefix + "changes", s.prefix + "gen"},
		tenant, s.prefix+"notify", s.prefix+"t:"+tenant+":r:")
	return err
}

// change runs a state-changing script and reports the tenant.
func (s *Redis) change(ctx context.Context, tenant, id string, sc *redis.Script, keys []string, args ...any) error {
	err := s.op(ctx, tenant, s.o.Timeout, func(ctx context.Context) error {
		res, err := sc.Run(ctx, s.c, keys, args...).Result()
		if err != nil {
			return s.fail(ctx, err)
		}
		n, err := outcome(tenant, id, res)
		if err != nil {
			return err
		}
		if sc == removeScript {
			s.purge(tenant)
		}
		s.changed(tenant, n)
		return nil
	})
	if err != nil {
		return err
	}
	s.notify(tenant)
	return nil
}

// Tenants: see Store.
func (s *Redis) Tenants(ctx context.Context) ([]string, error) {
	var out []string
	err := s.op(ctx, "\x00", s.o.Timeout, func(ctx context.Context) error {
		ts, err := s.c.SMembers(ctx, s.prefix+"tenants").Result()
		if err != nil {
			return s.fail(ctx, err)
		}
		out = ts
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}

// The memory caches: release descriptions (bounded by count) and files
// (bounded by CacheBytes; past it, other releases' files are dropped).
const maxMetas = 4096

func (s *Redis) meta(tenant, id string) (Release, bool) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	r, ok := s.metas[tenant+"\x00"+id]
	return r, ok
}

func (s *Redis) keepMeta(tenant string, r Release) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if len(s.metas) >= maxMetas {
		for k := range s.metas {
			delete(s.metas, k)
			if len(s.metas) < maxMetas/2 {
				break
			}
		}
	}
	s.metas[tenant+"\x00"+r.ID] = r
}

func (s *Redis) file(tenant, id, path string) ([]byte, bool) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	b, ok := s.files[tenant+"\x00"+id][path]
	return b, ok
}

func (s *Redis) keepFile(tenant, id, path string, b []byte) {
	if int64(len(b)) > s.o.CacheBytes {
		return
	}
	key := tenant + "\x00" + id
	s.cmu.Lock()
	defer s.cmu.Unlock()
	for k, fs := range s.files {
		if s.bytes+int64(len(b)) <= s.o.CacheBytes {
			break
		}
		if k == key {
			continue
		}
		for _, f := range fs {
			s.bytes -= int64(len(f))
		}
		delete(s.files, k)
	}
	m := s.files[key]
	if m == nil {
		m = map[string][]byte{}
		s.files[key] = m
	}
	if old, ok := m[path]; ok {
		s.bytes -= int64(len(old))
	}
	m[path] = b
	s.bytes += int64(len(b))
}

// purge drops what memory holds of a removed tenant.
func (s *Redis) purge(tenant string) {
	pre := tenant + "\x00"
	s.cmu.Lock()
	defer s.cmu.Unlock()
	for k := range s.metas {
		if strings.HasPrefix(k, pre) {
			delete(s.metas, k)
		}
	}
	for k, fs := range s.files {
		if strings.HasPrefix(k, pre) {
			for _, f := range fs {
				s.bytes -= int64(len(f))
			}
			delete(s.files, k)
		}
	}
}

var _ Store = (*Redis)(nil)
