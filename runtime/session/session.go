// Package session stores per-call state for scripts: a small map of fields
// per (tenant, CallID), shared by every request of the call and expired a
// while after its last write. Two stores implement it: Memory, in-process,
// the default; and Redis, for several dialua nodes behind a load balancer.
// Values, the tenant-wide store that outlives calls, is built on the same
// stores (values.go).
//
// Values are stored as strings with a one-letter type prefix (s: string,
// n: number, b: boolean, t: JSON-encoded table) so both stores hold exactly
// what the script set and give it back with its type.
//
// Both stores bound the bytes sessions hold, per call, per tenant and in
// total (MemoryLimits, RedisLimits: 1 MiB, 64 MiB and 1 GiB by default,
// counted alike), and fail a write past a limit with ErrSessionFull,
// ErrTenantQuota or ErrStoreFull rather than evict anything, so one tenant
// filling its quota cannot push out or starve another's calls. How Redis
// keeps the counts and keeps one tenant's timeouts from switching Redis off
// for the others is in Redis's doc.
package session

import (
	"context"
	"errors"
	"time"
)

// Store is a session backend. Every method is safe for concurrent use and
// honours ctx (the run's deadline).
type Store interface {
	// Get returns the encoded value of a field, or ok=false.
	Get(ctx context.Context, k Key, field string) (value string, ok bool, err error)
	// Set stores a field and renews the session's TTL.
	Set(ctx context.Context, k Key, field, value string, ttl time.Duration) error
	// Incr adds delta to a numeric field (missing counts as 0), renews the
	// TTL, and returns the new value.
	Incr(ctx context.Context, k Key, field string, delta float64, ttl time.Duration) (float64, error)
	// Delete removes a field.
	Delete(ctx context.Context, k Key, field string) error
	// Close releases the store.
	Close() error
}

// Key names one call's session, or with Kind TenantKey one entry of a
// tenant's store (Values).
type Key struct {
	Tenant string
	CallID string // the call's CallID, or the store key's name
	Kind   Kind
}

// Kind is the namespace a Key is in. A store implementation must keep the
// kinds apart: a request's CallID is whatever the caller sent, so a session
// whose CallID equals a store key's name must not reach that key.
type Kind uint8

const (
	CallSession Kind = iota // a call's session (the zero value)
	TenantKey               // one key of a tenant's store: one field, its own TTL
)

// Limits on what one session may hold, the same in every store.
const (
	MaxFields     = 256
	MaxValueBytes = 64 << 10
	MaxFieldBytes = 256
)

var (
	ErrTooManyFields = errors.New("session full: at most 256 fields per call")
	ErrValueTooLarge = errors.New("session value too large: at most 64 KiB")
	ErrNotNumber     = errors.New("session field is not a number")
)

// InProcess reports whether s answers from this process's memory without
// waiting on I/O (Memory, observed or not). A script's run keeps its CPU
// token across the calls of such a store: handing the token back and taking
// it again costs two trips through the scheduler, more than the call itself,
// and buys other tenants nothing since the call does not wait.
func InProcess(s Store) bool {
	// Bounded: an embedder's wrapper whose Unwrap returns itself must not
	// hang the caller.
	for range 16 {
		switch t := s.(type) {
		case *Memory:
			return true
		case interface{ Unwrap() Store }:
			s = t.Unwrap()
		default:
			return false
		}
	}
	return false
}
