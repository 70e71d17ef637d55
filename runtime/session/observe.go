package session

import (
	"context"
	"time"
)

// Observer is told of every operation of an observed store (metrics): the
// backend's name as given to Observe, the operation ("get", "set", "incr",
// "delete"), its error (nil on success; a missing field is no error) and how
// long it took. It must be cheap and safe for concurrent use.
type Observer interface {
	SessionOp(backend, op string, err error, d time.Duration)
}

// Observe returns s with every operation reported to o; with a nil o it
// returns s itself. Close is passed on unobserved.
func Observe(s Store, backend string, o Observer) Store {
	if o == nil || s == nil {
		return s
	}
	return &observed{Store: s, backend: backend, o: o}
}

type observed struct {
	Store
	backend string
	o       Observer
}

func (s *observed) Get(ctx context.Context, k Key, field string) (string, bool, error) {
	begin := time.Now()
	v, ok, err := s.Store.Get(ctx, k, field)
	s.o.SessionOp(s.backend, "get", err, time.Since(begin))
	return v, ok, err
}

func (s *observed) Set(ctx context.Context, k Key, field, value string, ttl time.Duration) error {
	begin := time.Now()
	err := s.Store.Set(ctx, k, field, value, ttl)
	s.o.SessionOp(s.backend, "set", err, time.Since(begin))
	return err
}

func (s *observed) Incr(ctx context.Context, k Key, field string, delta float64, ttl time.Duration) (float64, error) {
	begin := time.Now()
	n, err := s.Store.Incr(ctx, k, field, delta, ttl)
	s.o.SessionOp(s.backend, "incr", err, time.Since(begin))
	return n, err
}

func (s *observed) Delete(ctx context.Context, k Key, field string) error {
	begin := time.Now()
	err := s.Store.Delete(ctx, k, field)
	s.o.SessionOp(s.backend, "delete", err, time.Since(begin))
	return err
}

// Unwrap is the observed store (for a check of what it can do, such as
// Ping).
func (s *observed) Unwrap() Store { return s.Store }
