package deploy

import "sync"

// subscribers are the functions a store tells of changes (Store.Subscribe),
// for both stores. Its zero value is ready.
type subscribers struct {
	mu   sync.Mutex
	fns  map[int]func(string)
	next int
}

// Subscribe: see Store.
func (s *subscribers) Subscribe(fn func(string)) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fns == nil {
		s.fns = map[int]func(string){}
	}
	id := s.next
	s.next++
	s.fns[id] = fn
	return func() {
		s.mu.Lock()
		delete(s.fns, id)
		s.mu.Unlock()
	}
}

// notify calls every subscriber, outside the lock, so a subscriber may
// call the store.
func (s *subscribers) notify(tenant string) {
	s.mu.Lock()
	fns := make([]func(string), 0, len(s.fns))
	for _, fn := range s.fns {
		fns = append(fns, fn)
	}
	s.mu.Unlock()
	for _, fn := range fns {
		fn(tenant)
	}
}
