package session

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"
)

// MemoryLimits bound the in-process store in bytes (field names and values,
// plus a fixed overhead per field and per session). Zero values take the
// defaults noted.
type MemoryLimits struct {
	PerSession int64 // one call; default 1 MiB
	PerTenant  int64 // all of one tenant's calls; default 64 MiB
	Total      int64 // the whole store; default 1 GiB
}

func (l MemoryLimits) withDefaults() MemoryLimits {
	if l.PerSession <= 0 {
		l.PerSession = 1 << 20
	}
	if l.PerTenant <= 0 {
		l.PerTenant = 64 << 20
	}
	if l.Total <= 0 {
		l.Total = 1 << 30
	}
	return l
}

const (
	sessionOverhead = 256
	fieldOverhead   = 64
)

var (
	ErrSessionFull = errors.New("session full: this call's session is at its size limit")
	ErrTenantQuota = errors.New("session store quota for this tenant is used up")
	ErrStoreFull   = errors.New("session store full")
)

// Memory is the in-process store: nothing to run, lost on restart, private
// to one node. It never evicts a live session to make room: a write that
// would pass a limit fails instead, so one tenant filling its quota cannot
// push out another tenant's calls.
type Memory struct {
	mu       sync.Mutex
	limits   MemoryLimits
	sessions map[Key]*memSession
	tenants  map[string]int64 // bytes per tenant
	total    int64
	stop     chan struct{}
	now      func() time.Time
}

type memSession struct {
	fields  map[string]string
	bytes   int64
	expires time.Time
}

// NewMemory makes an in-process store and sweeps expired sessions every
// minute.
func NewMemory(limits MemoryLimits) *Memory {
	m := &Memory{limits: limits.withDefaults(), sessions: map[Key]*memSession{},
		tenants: map[string]int64{}, stop: make(chan struct{}), now: time.Now}
	go m.sweep()
	return m
}

func (m *Memory) sweep() {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.mu.Lock()
			now := m.now()
			for k, s := range m.sessions {
				if now.After(s.expires) {
					m.remove(k, s)
				}
			}
			m.mu.Unlock()
		}
	}
}

func (m *Memory) remove(k Key, s *memSession) {
	delete(m.sessions, k)
	m.charge(k.Tenant, -s.bytes)
}

func (m *Memory) charge(tenant string, n int64) {
	m.total += n
	if m.tenants[tenant] += n; m.tenants[tenant] <= 0 {
		delete(m.tenants, tenant)
	}
}

// room checks that n more bytes fit for this session and tenant.
func (m *Memory) room(k Key, s *memSession, n int64) error {
	switch {
	case n <= 0:
		return nil
	case s != nil && s.bytes+n > m.limits.PerSession:
		return ErrSessionFull
	case m.tenants[k.Tenant]+n > m.limits.PerTenant:
		return ErrTenantQuota
	case m.total+n > m.limits.Total:
		return ErrStoreFull
	}
	return nil
}

// live returns the unexpired session for k, or nil.
func (m *Memory) live(k Key) *memSession {
	s := m.sessions[k]
	if s != nil && m.now().After(s.expires) {
		m.remove(k, s)
		return nil
	}
	return s
}

// put stores field=value in k's session (creating it), renewing its TTL,
// within the limits.
func (m *Memory) put(k Key, field, value string, ttl time.Duration) error {
	s := m.live(k)
	var n int64
	if s == nil {
		n = sessionOverhead
	}
	old, exists := "", false
	if s != nil {
		old, exists = s.fields[field]
		if !exists && len(s.fields) >= MaxFields {
			return ErrTooManyFields
		}
	}
	n += int64(len(value))
	if exists {
		n -= int64(len(old))
	} else {
		n += int64(len(field)) + fieldOverhead
	}
	if err := m.room(k, s, n); err != nil {
		return err
	}
	if s == nil {
		s = &memSession{fields: map[string]string{}}
		m.sessions[k] = s
	}
	s.fields[field] = value
	s.bytes += n
	m.charge(k.Tenant, n)
	s.expires = m.now().Add(ttl)
	return nil
}

func (m *Memory) Get(ctx context.Context, k Key, field string) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.live(k)
	if s == nil {
		return "", false, nil
	}
	v, ok := s.fields[field]
	return v, ok, nil
}

func (m *Memory) Set(ctx context.Context, k Key, field, value string, ttl time.Duration) error {
	if len(value) > MaxValueBytes+2 { // +2: the type prefix
		return ErrValueTooLarge
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.put(k, field, value, ttl)
}

func (m *Memory) Incr(ctx context.Context, k Key, field string, delta float64, ttl time.Duration) (float64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := 0.0
	if s := m.live(k); s != nil {
		if v, ok := s.fields[field]; ok {
			n, err := DecodeNumber(v)
			if err != nil {
				return 0, err
			}
			cur = n
		}
	}
	cur += delta
	if err := m.put(k, field, EncodeNumber(cur), ttl); err != nil {
		return 0, err
	}
	return cur, nil
}

func (m *Memory) Delete(ctx context.Context, k Key, field string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.live(k)
	if s == nil {
		return nil
	}
	if v, ok := s.fields[field]; ok {
		n := int64(len(field)+len(v)) + fieldOverhead
		delete(s.fields, field)
		s.bytes -= n
		m.charge(k.Tenant, -n)
	}
	if len(s.fields) == 0 {
		// As Redis drops an empty hash: otherwise a tenant store key set
		// and deleted would hold its overhead until its TTL, up to 30 days,
		// and a loop over fresh keys could fill the tenant's quota with
		// nothing.
		m.remove(k, s)
	}
	return nil
}

// Usage reports the bytes a tenant's sessions hold (for tests and metrics).
func (m *Memory) Usage(tenant string) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tenants[tenant]
}

func (m *Memory) Close() error {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	return nil
}

// EncodeNumber and DecodeNumber are the n: encoding, shared with Redis so
// INCRBYFLOAT-style updates and plain sets read back alike.
func EncodeNumber(f float64) string { return "n:" + strconv.FormatFloat(f, 'g', -1, 64) }

func DecodeNumber(v string) (float64, error) {
	if len(v) < 2 || v[:2] != "n:" {
		return 0, ErrNotNumber
	}
	return strconv.ParseFloat(v[2:], 64)
}
