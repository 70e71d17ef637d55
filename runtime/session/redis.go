package session

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis keeps sessions in Redis, one hash per call (dialua:s:<tenant>:<CallID>)
// with a TTL renewed on every write, so every dialua node behind a load
// balancer sees the same call. While Redis is unreachable, calls fail fast
// with an error the script can handle; the client reconnects by itself.
type Redis struct {
	c *redis.Client
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
	opt.DialTimeout = 250 * time.Millisecond
	opt.ReadTimeout = 500 * time.Millisecond
	opt.WriteTimeout = 500 * time.Millisecond
	opt.MaxRetries = 1
	opt.ContextTimeoutEnabled = true
	return &Redis{c: redis.NewClient(opt)}, nil
}

func redisKey(k Key) string { return "dialua:s:" + k.Tenant + ":" + k.CallID }

// Ping checks the connection (for start-up logs and tests).
func (r *Redis) Ping(ctx context.Context) error { return r.c.Ping(ctx).Err() }

func (r *Redis) Get(ctx context.Context, k Key, field string) (string, bool, error) {
	v, err := r.c.HGet(ctx, redisKey(k), field).Result()
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
	if len(value) > MaxValueBytes {
		return ErrValueTooLarge
	}
	err := setScript.Run(ctx, r.c, []string{redisKey(k)}, field, value, ttl.Milliseconds(), MaxFields).Err()
	return storeErr(err)
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
	s, err := incrScript.Run(ctx, r.c, []string{redisKey(k)}, field, strconv.FormatFloat(delta, 'g', -1, 64), ttl.Milliseconds(), MaxFields).Text()
	if err != nil {
		return 0, storeErr(err)
	}
	return DecodeNumber(s)
}

func (r *Redis) Delete(ctx context.Context, k Key, field string) error {
	return storeErr(r.c.HDel(ctx, redisKey(k), field).Err())
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
	case strings.Contains(msg, "FULL"):
		return ErrTooManyFields
	case strings.Contains(msg, "NOTNUM"):
		return ErrNotNumber
	}
	return fmt.Errorf("session store unavailable: %w", err)
}
