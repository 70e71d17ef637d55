package testkit

import (
	"context"
	"testing"

	"github.com/dialua/dialua/runtime/session"
	"github.com/dialua/dialua/runtime/testkit/redistest"
)

// RedisSessions is a session store (engine.Options.Sessions) on the test
// Redis r, with o's limits and breaker settings, closed when the test ends.
// It fails the test unless the store answers a ping.
func RedisSessions(t testing.TB, r *redistest.Server, o session.RedisOptions) *session.Redis {
	t.Helper()
	st, err := session.NewRedisWith(r.URL(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}
