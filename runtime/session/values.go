package session

import (
	"context"
	"errors"
	"time"
)

// Values is a tenant's store of keys that outlive calls (the store module):
// one value per key with its own TTL. It lives in the same Store as the
// sessions, each key an entry of Kind TenantKey with one field, so it has
// the same backends, breakers and byte limits, and its bytes count in the
// tenant's quota together with its sessions': a tenant filling one fills
// the other, and never another tenant's. Every key is the tenant's: there is
// no way to name a key of another tenant, or a session.
//
// A key costs what a session with one field costs (sessionOverhead +
// fieldOverhead + its name's and value's bytes).
type Values struct{ s Store }

// NewValues is the tenant store kept in s; a nil s gives a nil *Values.
func NewValues(s Store) *Values {
	if s == nil {
		return nil
	}
	return &Values{s: s}
}

// InProcess reports whether the values live in this process's memory (see
// the function InProcess).
func (v *Values) InProcess() bool { return v != nil && InProcess(v.s) }

// Limits of the tenant store: the longest key name, and the TTLs. Values
// are bounded like session values (MaxValueBytes).
const (
	MaxKeyBytes     = 256
	DefaultValueTTL = 24 * time.Hour
	MaxValueTTL     = 30 * 24 * time.Hour
)

var (
	ErrKeyName = errors.New("store keys are 1 to 256 bytes")
	ErrTTL     = errors.New("store TTLs are 1 second to 30 days")
)

// valueField is the one field of a key's entry.
const valueField = "v"

func valueKey(tenant, key string) (Key, error) {
	if key == "" || len(key) > MaxKeyBytes {
		return Key{}, ErrKeyName
	}
	return Key{Tenant: tenant, CallID: key, Kind: TenantKey}, nil
}

// TTL is ttl checked against the store's bounds, 0 standing for
// DefaultValueTTL.
func TTL(ttl time.Duration) (time.Duration, error) {
	switch {
	case ttl == 0:
		return DefaultValueTTL, nil
	case ttl < time.Second || ttl > MaxValueTTL:
		return 0, ErrTTL
	}
	return ttl, nil
}

// Get returns a key's encoded value (the sessions' typed form), or
// ok=false when it is missing or expired.
func (v *Values) Get(ctx context.Context, tenant, key string) (string, bool, error) {
	k, err := valueKey(tenant, key)
	if err != nil {
		return "", false, err
	}
	return v.s.Get(ctx, k, valueField)
}

// Set stores a key's encoded value, to expire ttl from now (0: a day).
func (v *Values) Set(ctx context.Context, tenant, key, value string, ttl time.Duration) error {
	k, err := valueKey(tenant, key)
	if err != nil {
		return err
	}
	if ttl, err = TTL(ttl); err != nil {
		return err
	}
	return v.s.Set(ctx, k, valueField, value, ttl)
}

// Incr adds delta to a numeric key (missing counts as 0), atomically in
// either store, sets it to expire ttl from now (0: a day) and returns the
// new value.
func (v *Values) Incr(ctx context.Context, tenant, key string, delta float64, ttl time.Duration) (float64, error) {
	k, err := valueKey(tenant, key)
	if err != nil {
		return 0, err
	}
	if ttl, err = TTL(ttl); err != nil {
		return 0, err
	}
	return v.s.Incr(ctx, k, valueField, delta, ttl)
}

// Delete removes a key and gives its bytes back.
func (v *Values) Delete(ctx context.Context, tenant, key string) error {
	k, err := valueKey(tenant, key)
	if err != nil {
		return err
	}
	return v.s.Delete(ctx, k, valueField)
}
