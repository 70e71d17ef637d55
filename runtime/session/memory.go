package session

import (
	"context"
	"strconv"
	"sync"
	"time"
)

// Memory is the in-process store: nothing to run, lost on restart, private
// to one node. It holds at most maxSessions calls; past that the session
// closest to expiry is dropped first.
type Memory struct {
	mu       sync.Mutex
	sessions map[Key]*memSession
	max      int
	stop     chan struct{}
	now      func() time.Time
}

type memSession struct {
	fields  map[string]string
	expires time.Time
}

// NewMemory makes an in-process store for at most maxSessions calls
// (default 100000) and sweeps expired sessions every minute.
func NewMemory(maxSessions int) *Memory {
	if maxSessions <= 0 {
		maxSessions = 100000
	}
	m := &Memory{sessions: map[Key]*memSession{}, max: maxSessions, stop: make(chan struct{}), now: time.Now}
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
					delete(m.sessions, k)
				}
			}
			m.mu.Unlock()
		}
	}
}

// live returns the unexpired session for k, or nil.
func (m *Memory) live(k Key) *memSession {
	s := m.sessions[k]
	if s != nil && m.now().After(s.expires) {
		delete(m.sessions, k)
		return nil
	}
	return s
}

// writable returns the session for k, creating it (and making room) if
// needed, with its TTL renewed.
func (m *Memory) writable(k Key, ttl time.Duration) *memSession {
	s := m.live(k)
	if s == nil {
		if len(m.sessions) >= m.max {
			m.evict()
		}
		s = &memSession{fields: map[string]string{}}
		m.sessions[k] = s
	}
	s.expires = m.now().Add(ttl)
	return s
}

// evict drops the session that expires soonest among a sample, which keeps
// eviction O(1) amortised without an ordered index.
func (m *Memory) evict() {
	var victim Key
	var soonest time.Time
	n := 0
	for k, s := range m.sessions {
		if n == 0 || s.expires.Before(soonest) {
			victim, soonest = k, s.expires
		}
		n++
		if n == 16 {
			break
		}
	}
	delete(m.sessions, victim)
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
	if len(value) > MaxValueBytes {
		return ErrValueTooLarge
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.writable(k, ttl)
	if _, exists := s.fields[field]; !exists && len(s.fields) >= MaxFields {
		return ErrTooManyFields
	}
	s.fields[field] = value
	return nil
}

func (m *Memory) Incr(ctx context.Context, k Key, field string, delta float64, ttl time.Duration) (float64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.writable(k, ttl)
	cur := 0.0
	if v, ok := s.fields[field]; ok {
		n, err := DecodeNumber(v)
		if err != nil {
			return 0, err
		}
		cur = n
	} else if len(s.fields) >= MaxFields {
		return 0, ErrTooManyFields
	}
	cur += delta
	s.fields[field] = EncodeNumber(cur)
	return cur, nil
}

func (m *Memory) Delete(ctx context.Context, k Key, field string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.live(k); s != nil {
		delete(s.fields, field)
	}
	return nil
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
