package devconsole

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dialua/dialua/runtime/session"
)

// Recorder is a session store that remembers, for the console's own calls
// (CallIDs it made, "dev-..."), what each call's session holds, so the page
// can show it after every answer. Everything else passes straight through
// to the store it wraps. It is for a dev server only.
type Recorder struct {
	session.Store

	mu    sync.Mutex
	calls map[string]map[string]string // CallID -> "tenant.field" -> encoded value
	order []string
}

// maxRecorded bounds the calls a Recorder remembers (the oldest go first).
const maxRecorded = 64

// NewRecorder wraps a store.
func NewRecorder(s session.Store) *Recorder {
	return &Recorder{Store: s, calls: map[string]map[string]string{}}
}

func (r *Recorder) mine(k session.Key) bool {
	return k.Kind == session.CallSession && strings.HasPrefix(k.CallID, "dev-")
}

func (r *Recorder) Set(ctx context.Context, k session.Key, field, value string, ttl time.Duration) error {
	err := r.Store.Set(ctx, k, field, value, ttl)
	if err == nil && r.mine(k) {
		r.record(k, field, value, false)
	}
	return err
}

func (r *Recorder) Incr(ctx context.Context, k session.Key, field string, delta float64, ttl time.Duration) (float64, error) {
	n, err := r.Store.Incr(ctx, k, field, delta, ttl)
	if err == nil && r.mine(k) {
		r.record(k, field, "n:"+strconv.FormatFloat(n, 'g', -1, 64), false)
	}
	return n, err
}

func (r *Recorder) Delete(ctx context.Context, k session.Key, field string) error {
	err := r.Store.Delete(ctx, k, field)
	if err == nil && r.mine(k) {
		r.record(k, field, "", true)
	}
	return err
}

func (r *Recorder) record(k session.Key, field, value string, del bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.calls[k.CallID]
	if m == nil {
		if len(r.order) >= maxRecorded {
			delete(r.calls, r.order[0])
			r.order = r.order[1:]
		}
		m = map[string]string{}
		r.calls[k.CallID] = m
		r.order = append(r.order, k.CallID)
	}
	name := k.Tenant + "." + field
	if del {
		delete(m, name)
		return
	}
	if len(m) < session.MaxFields*4 {
		m[name] = value
	}
}

// Snapshot is a call's session as the page shows it: "tenant.field" to
// the value as a script would print it (tables as JSON).
func (r *Recorder) Snapshot(callID string) map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]string{}
	for k, v := range r.calls[callID] {
		out[k] = shown(v)
	}
	return out
}

// shown decodes a stored value (s:, n:, b:, t: prefixes) for display.
func shown(v string) string {
	if len(v) < 2 || v[1] != ':' {
		return v
	}
	switch v[0] {
	case 's':
		return strconv.Quote(v[2:])
	case 'n', 'b', 't':
		return v[2:]
	}
	return v
}
