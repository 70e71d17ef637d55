package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/redis/go-redis/v9"
)

// redisLog sends go-redis's own messages ("failed to dial", pool errors),
// which it prints to stderr by default, through the server's structured log.
// go-redis keeps its logger in a package variable, so the program sets it,
// here, never a library.
type redisLog struct{ log *slog.Logger }

func (r redisLog) Printf(ctx context.Context, format string, v ...any) {
	r.log.Warn("redis client", "message", strings.TrimSpace(fmt.Sprintf(format, v...)))
}

func useRedisLog(log *slog.Logger) { redis.SetLogger(redisLog{log}) }
