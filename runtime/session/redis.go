package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis keeps sessions in Redis, one hash per call (dialua:s:<tenant>:<CallID>)
// with a TTL renewed on every write, so every dialua node behind a load
// balancer sees the same call. While Redis is unreachable, calls fail fast
// with an error the script can handle; the client reconnects by itself.
type Redis struct {
	c *redis.Client
	// downUntil (unix nanos) is set after a call times out: until then,
	// calls fail at once instead of each waiting out its own timeout, so a
	// hung Redis costs scripts nothing but the error they fall back on.
	downUntil atomic.Int64
}

// Per-call bounds: a session call waits at most callTimeout for Redis, and
// after a timeout the store answers "unavailable" for breakerOpen.
const (
	callTimeout = 150 * time.Millisecond
	breakerOpen = time.Second
)

// call runs one Redis operation under the per-call timeout and the breaker.
func (r *Redis) call(ctx context.Context, op func(ctx context.Context) error) error {
	if time.Now().UnixNano() < r.downUntil.Load() {
		return errors.New("session store unavailable: recent calls timed out")
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	err := op(ctx)
	if err != nil && !errors.Is(err, redis.Nil) {
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
			r.downUntil.Store(time.Now().Add(breakerOpen).UnixNano())
		}
	}
	return err
}

// NewRedis connects to a redis:// or rediss:// URL. It does not wait for
// Redis to be up: a server that starts before Redis works once Redis does.
func NewRedis(url string) (*Redis, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("session store %q: %w", url, err)
	}
	// Fail fast while Redis is down: a script waiting on a dead store would
	// only burn its deadline.
	opt.DialTimeout = callTimeout
	opt.ReadTimeout = callTimeout
	opt.WriteTimeout = callTimeout
	opt.MaxRetries = 0
	opt.ContextTimeoutEnabled = true
	return &Redis{c: redis.NewClient(opt)}, nil
}

func redisKey(k Key) string { return "dialua:s:" + k.Tenant + ":" + k.CallID }

// Ping checks the connection (for start-up logs and tests).
func (r *Redis) Ping(ctx context.Context) error { return r.c.Ping(ctx).Err() }

func (r *Redis) Get(ctx context.Context, k Key, field string) (string, bool, error) {
	var v string
	err := r.call(ctx, func(ctx context.Context) (err error) {
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

var setScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 and redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then
  return redis.error_reply('FULL')
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1`)

func (r *Redis) Set(ctx context.Context, k Key, field, value string, ttl time.Duration) error {
	if len(value) > MaxValueBytes+2 {
		return ErrValueTooLarge
	}
	return storeErr(r.call(ctx, func(ctx context.Context) error {
		return setScript.Run(ctx, r.c, []string{redisKey(k)}, field, value, ttl.Milliseconds(), MaxFields).Err()
	}))
}

var incrScript = redis.NewScript(`
local v = redis.call('HGET', KEYS[1], ARGV[1])
local n = 0
if v then
  if string.sub(v, 1, 2) ~= 'n:' then return redis.error_reply('NOTNUM') end
  n = tonumber(string.sub(v, 3))
elseif redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then
  return redis.error_reply('FULL')
end
n = n + tonumber(ARGV[2])
local s = 'n:' .. string.format('%.17g', n)
redis.call('HSET', KEYS[1], ARGV[1], s)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return s`)

func (r *Redis) Incr(ctx context.Context, k Key, field string, delta float64, ttl time.Duration) (float64, error) {
	var s string
	err := r.call(ctx, func(ctx context.Context) (err error) {
		s, err = incrScript.Run(ctx, r.c, []string{redisKey(k)}, field, strconv.FormatFloat(delta, 'g', -1, 64), ttl.Milliseconds(), MaxFields).Text()
		return err
	})
	if err != nil {
		return 0, storeErr(err)
	}
	return DecodeNumber(s)
}

func (r *Redis) Delete(ctx context.Context, k Key, field string) error {
	return storeErr(r.call(ctx, func(ctx context.Context) error { return r.c.HDel(ctx, redisKey(k), field).Err() }))
}

func (r *Redis) Close() error { return r.c.Close() }

// storeErr maps the scripts' error replies to the package's errors and says
// plainly that the store is unreachable otherwise.
func storeErr(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "session store unavailable") {
		return err
	}
	switch {
	case strings.Contains(msg, "FULL"):
		return ErrTooManyFields
	case strings.Contains(msg, "NOTNUM"):
		return ErrNotNumber
	}
	return fmt.Errorf("session store unavailable: %w", err)
}
