package luaapi

import (
	"time"

	"github.com/dialua/dialua/runtime/netguard"
	"github.com/dialua/dialua/runtime/sandbox"
	"github.com/dialua/dialua/runtime/session"
)

// Deps are what the standard modules are built with.
type Deps struct {
	// Sessions is the per-call session store, which also holds the store
	// module's tenant keys (session.Values); nil: every session call
	// answers nil, "no session store configured", and every store call
	// nil, "no store configured".
	Sessions session.Store
	// SessionTTL is how long a call's session lives after its last write
	// when the tenant's configuration does not say; default 1h.
	SessionTTL time.Duration
	// HTTP is the outbound client (allowlists, address checks); nil: one
	// with netguard's defaults (no loopback, no private addresses).
	HTTP *netguard.Client
	// MaxString is the largest string a module builds (json.encode, http
	// bodies); default sandbox.DefaultMaxStringBytes.
	MaxString int
	// HTTPObserver hears of every http module call (metrics); nil: nobody.
	HTTPObserver HTTPObserver
}

// DefaultSessionTTL is how long a session lives after its last write.
const DefaultSessionTTL = time.Hour

func (d Deps) withDefaults() Deps {
	if d.SessionTTL <= 0 {
		d.SessionTTL = DefaultSessionTTL
	}
	if d.HTTP == nil {
		d.HTTP = netguard.New(netguard.Options{})
	}
	if d.MaxString <= 0 {
		d.MaxString = sandbox.DefaultMaxStringBytes
	}
	return d
}

// Standard returns dialua's modules, in a fresh list the caller may append
// its own to: env, http, json, log, session, store.
func Standard(d Deps) []Module {
	d = d.withDefaults()
	return []Module{
		Env(),
		HTTPObserved(d.HTTP, d.MaxString, d.HTTPObserver),
		JSON(d.MaxString),
		Log(),
		Session(d.Sessions, d.SessionTTL),
		Store(session.NewValues(d.Sessions)),
	}
}
