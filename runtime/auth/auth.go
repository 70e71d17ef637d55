// Package auth checks that a request for a tenant's scripts comes from that
// tenant's IVR, by the means the operator configured for the tenant in the
// tenants file (runtime/tenant's Auth; docs/tenants.md, "Inbound
// authentication"): allowed source networks, HTTP basic auth, a shared-secret
// token in a header or parameter, and an HMAC-SHA256 signature with a
// timestamp. Every configured check must pass; a tenant with none configured
// is not checked.
//
// The package knows nothing of HTTP servers: the server copies what a check
// needs into a Request. Secrets are compared in constant time (as SHA-256
// digests, so a secret's length does not show either) and never appear in an
// error.
package auth

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/netip"
	"time"

	"github.com/dialua/dialua/runtime/protocol"
	"github.com/dialua/dialua/runtime/tenant"
)

// Headers gives every value of a request header (case-insensitive name).
// fasthttp's *RequestHeader is one; HTTPHeader adapts a net/http Header. The
// slices returned may be reused by the next call.
type Headers interface {
	PeekAll(name string) [][]byte
}

// Request is what a check needs of one request. Its byte slices may point
// into the server's buffers: Check keeps none of them.
type Request struct {
	Tenant string
	// Remote is the TCP peer's address as the server sees it.
	Remote   netip.Addr
	Method   string // GET or POST
	Path     []byte // as sent on the request line (still percent-encoded)
	RawQuery []byte // as sent, without the '?'
	Body     []byte // as received
	Header   Headers
	// Params are the parsed query and form parameters.
	Params []protocol.Param
}

// Denied is the error of a refused request.
type Denied struct {
	// Status is 401 (credentials missing or wrong), 403 (source network
	// not allowed; signature bad, expired or replayed) or 503 (the replay
	// memory is full: the request may be retried).
	Status int
	// Reason says why, for the log; it never holds a secret or anything
	// the client sent.
	Reason string
	// Challenge asks for basic credentials (WWW-Authenticate: Basic): the
	// tenant has basic auth configured.
	Challenge bool
	// Client is the address the network check used when it was taken from
	// X-Forwarded-For (invalid otherwise).
	Client netip.Addr
}

func (d *Denied) Error() string { return "auth: " + d.Reason }

// Configs gives a tenant's effective configuration; *tenant.Registry is one.
type Configs interface {
	Get(name string) *tenant.Config
}

// Options tune an Authenticator. Zero values take the defaults noted.
type Options struct {
	// MaxSignaturesPerTenant and MaxSignatures bound the signatures
	// remembered to refuse replays, per tenant and in all; a signed request
	// that would pass either is refused with 503 until older ones expire.
	// Defaults 50,000 and 500,000 (about 60 bytes each).
	MaxSignaturesPerTenant int
	MaxSignatures          int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Defaults of Options, and the signature window.
const (
	DefaultMaxSignaturesPerTenant = 50_000
	DefaultMaxSignatures          = 500_000
	// Window is how far a signature's timestamp may be from the server's
	// clock, either way.
	Window = 5 * time.Minute
)

// Authenticator checks requests against their tenant's configuration. It is
// safe for concurrent use.
type Authenticator struct {
	configs Configs
	now     func() time.Time
	replays *replays
}

// New builds an Authenticator reading tenants' configuration from configs
// (hot reloads apply at once; the replay memory outlives them).
func New(configs Configs, opts Options) *Authenticator {
	if opts.MaxSignaturesPerTenant <= 0 {
		opts.MaxSignaturesPerTenant = DefaultMaxSignaturesPerTenant
	}
	if opts.MaxSignatures <= 0 {
		opts.MaxSignatures = DefaultMaxSignatures
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Authenticator{configs: configs, now: opts.Now,
		replays: newReplays(opts.MaxSignaturesPerTenant, opts.MaxSignatures)}
}

// Check returns nil when r passes every check configured for its tenant,
// else a *Denied. The checks run in this order, and the first that fails is
// the answer: source network, basic auth, token, signature (last, so that a
// signature is remembered only for a request that passed everything else).
func (a *Authenticator) Check(r *Request) error {
	cfg := a.configs.Get(r.Tenant)
	if cfg == nil || !cfg.Auth.Enabled() {
		return nil
	}
	au := &cfg.Auth
	challenge := len(au.Basic) > 0
	deny := func(status int, reason string) error {
		return &Denied{Status: status, Reason: reason, Challenge: challenge && status == http.StatusUnauthorized}
	}
	if nets := au.Nets(); len(nets) > 0 {
		client, fromXFF, ok := clientAddr(r, au.Proxies())
		if !ok {
			return deny(http.StatusForbidden, "X-Forwarded-For from a trusted proxy does not parse")
		}
		if !contains(nets, client) {
			d := deny(http.StatusForbidden, "source address not in the tenant's networks").(*Denied)
			if fromXFF {
				d.Client = client
			}
			return d
		}
	}
	if len(au.Basic) > 0 {
		if reason := checkBasic(r, au.Basic); reason != "" {
			return deny(http.StatusUnauthorized, reason)
		}
	}
	if t := au.Token; t != nil {
		if reason := checkToken(r, t); reason != "" {
			return deny(http.StatusUnauthorized, reason)
		}
	}
	if h := au.HMAC; h != nil {
		if status, reason := a.checkHMAC(r, h); reason != "" {
			return deny(status, reason)
		}
	}
	return nil
}

// one returns the header's value and how many times it was sent; a value
// only when it was sent exactly once (which of two would count is
// ambiguous, so a check refuses that).
func one(h Headers, name string) (v []byte, n int) {
	if h == nil {
		return nil, 0
	}
	all := h.PeekAll(name)
	if len(all) != 1 {
		return nil, len(all)
	}
	return all[0], 1
}

func checkBasic(r *Request, users []tenant.Basic) string {
	v, n := one(r.Header, "Authorization")
	if n == 0 {
		return "no basic credentials"
	}
	if n > 1 {
		return "more than one Authorization header"
	}
	const scheme = "basic "
	if len(v) < len(scheme) || !bytes.EqualFold(v[:len(scheme)], []byte(scheme)) {
		return "Authorization is not basic"
	}
	raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(v[len(scheme):])))
	if err != nil {
		return "basic credentials do not decode"
	}
	user, pass, found := bytes.Cut(raw, []byte{':'})
	if !found {
		return "basic credentials have no password"
	}
	us, ps := sha256.Sum256(user), sha256.Sum256(pass)
	match := 0
	for _, b := range users {
		want := sha256.Sum256([]byte(b.User))
		sum := b.Password.SHA256()
		match |= subtle.ConstantTimeCompare(us[:], want[:]) & subtle.ConstantTimeCompare(ps[:], sum[:])
	}
	if match != 1 {
		return "wrong basic credentials"
	}
	return ""
}

func checkToken(r *Request, t *tenant.Token) string {
	var v []byte
	if t.Header != "" {
		h, n := one(r.Header, t.Header)
		switch {
		case n == 0:
			return "no token header"
		case n > 1:
			return "token header sent more than once"
		}
		v = h
	} else {
		n := 0
		for _, p := range r.Params {
			if p.Name == t.Param {
				n++
				v = []byte(p.Value)
			}
		}
		switch {
		case n == 0:
			return "no token parameter"
		case n > 1:
			return "token parameter sent more than once"
		}
	}
	got := sha256.Sum256(v)
	match := 0
	for _, s := range t.Secrets {
		sum := s.SHA256()
		match |= subtle.ConstantTimeCompare(got[:], sum[:])
	}
	if match != 1 {
		return "wrong token"
	}
	return ""
}

// HTTPHeader adapts a net/http Header (for embedders and tests).
type HTTPHeader http.Header

func (h HTTPHeader) PeekAll(name string) [][]byte {
	vs := http.Header(h).Values(name)
	out := make([][]byte, len(vs))
	for i, v := range vs {
		out[i] = []byte(v)
	}
	return out
}
