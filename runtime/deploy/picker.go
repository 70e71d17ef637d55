package deploy

import (
	"context"
	"hash/fnv"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dialua/dialua/luaapi"
	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/session"
)

// PickerOptions configure a Picker. Zero values take the defaults noted.
type PickerOptions struct {
	// Sessions holds the pins (the engine's session store: memory, or
	// Redis when several nodes share calls). Default: an in-process one,
	// closed by Close.
	Sessions session.Store
	// TTL is how long a pin lives after the call's last request renewed
	// it; default luaapi.DefaultSessionTTL, as sessions.
	TTL    time.Duration
	Logger *slog.Logger // default: discard
	// PinTimeout bounds each pin read or write; default 250 ms. A pin that
	// cannot be read or written is not fatal: see Pick.
	PinTimeout time.Duration
}

// Picker implements engine.Releases over a Store: which release serves each
// request. It keeps every tenant's state in memory (loaded at NewPicker,
// reloaded when the store says a tenant changed), so Pick reads no disk.
type Picker struct {
	store    Store
	sessions session.Store
	own      bool
	ttl      time.Duration
	timeout  time.Duration
	log      *slog.Logger
	cancel   func()

	states sync.Map   // tenant -> *pickState, only tenants with an active release
	rmu    sync.Mutex // one reload at a time, so the last one reads the latest state
}

type pickState struct {
	active  string
	canary  string
	percent int
	ids     map[string]bool // every release the tenant has
}

// pinSuffix makes the session key of a call's pin: tenant names cannot
// contain '/', so no script's session (its Key.Tenant is its tenant) can
// be this one. ('/' rather than "\x00": the Redis store splits its
// bookkeeping names at the first NUL.)
const pinSuffix = "/release"

const pinField = "id"

// NewPicker loads every tenant's state from store and follows its changes.
func NewPicker(store Store, o PickerOptions) (*Picker, error) {
	p := &Picker{store: store, sessions: o.Sessions, ttl: o.TTL, timeout: o.PinTimeout, log: o.Logger}
	if p.sessions == nil {
		p.sessions, p.own = session.NewMemory(session.MemoryLimits{}), true
	}
	if p.ttl <= 0 {
		p.ttl = luaapi.DefaultSessionTTL
	}
	if p.timeout <= 0 {
		p.timeout = 250 * time.Millisecond
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	// Subscribed first, so no change between the load and the
	// subscription is missed.
	p.cancel = store.Subscribe(p.changed)
	if err := p.reloadAll(); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

// Close stops following the store (and closes the session store if the
// Picker made it).
func (p *Picker) Close() {
	p.cancel()
	if p.own {
		p.sessions.Close()
	}
}

func (p *Picker) changed(tenant string) {
	if tenant == "" {
		if err := p.reloadAll(); err != nil {
			p.log.Error("releases: reloading every tenant's state failed; the last known state keeps serving", "err", err)
		}
		return
	}
	if err := p.reload(tenant); err != nil {
		p.log.Error("releases: reloading a tenant's state failed; the last known state keeps serving", "tenant", tenant, "err", err)
	}
}

func (p *Picker) reloadAll() error {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	ts, err := p.store.Tenants(context.Background())
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, t := range ts {
		seen[t] = true
		if err := p.reloadLocked(t); err != nil {
			return err
		}
	}
	p.states.Range(func(k, _ any) bool {
		if !seen[k.(string)] {
			p.states.Delete(k)
		}
		return true
	})
	return nil
}

// reload reads a tenant's state from the store again, when the store
// reports a change (a store whose notifications can be missed, such as
// Redis, reports "" when it reconciles, and every tenant is read again).
func (p *Picker) reload(tenant string) error {
	p.rmu.Lock()
	defer p.rmu.Unlock()
	return p.reloadLocked(tenant)
}

func (p *Picker) reloadLocked(tenant string) error {
	ctx := context.Background()
	s, err := p.store.State(ctx, tenant)
	if err != nil {
		return err
	}
	if s.Active == "" {
		p.states.Delete(tenant)
		return nil
	}
	rs, err := p.store.Releases(ctx, tenant)
	if err != nil {
		return err
	}
	ps := &pickState{active: s.Active, ids: make(map[string]bool, len(rs))}
	for _, r := range rs {
		ps.ids[r.ID] = true
	}
	if s.Canary != nil {
		ps.canary, ps.percent = s.Canary.Release, s.Canary.Percent
	}
	p.states.Store(tenant, ps)
	return nil
}

// Live is the release a tenant's new calls without a canary get, "" when
// the tenant is served from the scripts folder.
func (p *Picker) Live(tenant string) string {
	if v, ok := p.states.Load(tenant); ok {
		return v.(*pickState).active
	}
	return ""
}

// CanaryShare says whether a new call goes to the canary: a hash of tenant
// and CallID below percent, so the same call always gets the same answer
// (even if its pin is lost) and percent of calls do.
func CanaryShare(tenant, callID string, percent int) bool {
	h := fnv.New64a()
	h.Write([]byte(tenant))
	h.Write([]byte{0})
	h.Write([]byte(callID))
	// fnv's low bits mix poorly for short inputs: fold the high half in.
	x := h.Sum64()
	x ^= x >> 29
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 32
	return int(x%100) < percent
}

// Pick implements engine.Releases:
//   - a tenant with no active release gets "" (the scripts folder);
//   - a request without a CallID gets the live release;
//   - a call's first request pins the release it gets (the canary for its
//     sticky share when one runs, else the live one) in the session store,
//     with the session TTL, and every later request of the call, its Hangup
//     included, gets the pinned release; the Hangup removes the pin;
//   - a pinned release the tenant no longer has gives way to the live one.
//
// A pin that cannot be read or written (Redis down) is logged and the
// request gets what a new call would: the call stays on one release unless
// the live release changes meanwhile. Pick never fails a request.
func (p *Picker) Pick(ctx context.Context, req *protocol.Request) (string, func(), error) {
	v, ok := p.states.Load(req.Tenant)
	if !ok {
		return "", nil, nil
	}
	st := v.(*pickState)
	callID := req.Value(protocol.ParamCallID)
	if callID == "" {
		return st.active, nil, nil
	}
	fresh := st.active
	if st.canary != "" && CanaryShare(req.Tenant, callID, st.percent) {
		fresh = st.canary
	}
	key := session.Key{Tenant: req.Tenant + pinSuffix, CallID: callID}
	hangup := req.Event() == protocol.EventHangup
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.timeout)
	defer cancel()
	raw, found, err := p.sessions.Get(pctx, key, pinField)
	if err != nil {
		p.log.Warn("releases: cannot read a call's release pin; the call gets the release a new call would", "tenant", req.Tenant, "err", err)
		return fresh, nil, nil
	}
	now := time.Now()
	id, stamp := decodePin(raw)
	if found && st.ids[id] {
		if hangup {
			p.unpin(pctx, key, req.Tenant)
		} else if now.Sub(stamp) > p.ttl/4 {
			p.pin(pctx, key, req.Tenant, id, now) // renewed, as a session is by its writes
		}
		return id, nil, nil
	}
	if hangup {
		if found {
			p.unpin(pctx, key, req.Tenant)
		}
		return fresh, nil, nil
	}
	// A new call is pinned only once the engine has found its script and
	// admitted the run: a request for a script that does not exist, which
	// anyone can send, writes nothing.
	commit := func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.timeout)
		defer cancel()
		p.pin(cctx, key, req.Tenant, fresh, now)
	}
	return fresh, commit, nil
}

func (p *Picker) pin(ctx context.Context, key session.Key, tenant, id string, now time.Time) {
	if err := p.sessions.Set(ctx, key, pinField, encodePin(id, now), p.ttl); err != nil {
		p.log.Warn("releases: cannot pin a call to its release", "tenant", tenant, "release", id, "err", err)
	}
}

func (p *Picker) unpin(ctx context.Context, key session.Key, tenant string) {
	if err := p.sessions.Delete(ctx, key, pinField); err != nil {
		p.log.Warn("releases: cannot remove a call's release pin (it expires with the session TTL)", "tenant", tenant, "err", err)
	}
}

// A pin is stored as a session string ("s:" prefix, as session values are)
// of the release id and when it was last written, in unix seconds.
func encodePin(id string, at time.Time) string {
	return "s:" + id + " " + strconv.FormatInt(at.Unix(), 10)
}

func decodePin(v string) (string, time.Time) {
	v = strings.TrimPrefix(v, "s:")
	id, at, _ := strings.Cut(v, " ")
	sec, _ := strconv.ParseInt(at, 10, 64)
	return id, time.Unix(sec, 0)
}
