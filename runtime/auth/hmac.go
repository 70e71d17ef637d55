package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"sync"

	"github.com/dialua/dialua/runtime/tenant"
)

// Canonical is the string a signature covers, for a request whose timestamp
// header holds ts (decimal Unix seconds, exactly as sent):
//
//	ts "\n" METHOD "\n" path "\n" raw query "\n" body
//
// path is as sent on the request line (with the tenant, still
// percent-encoded), raw query is everything after '?' as sent ("" when
// none), body the bytes received ("" for a GET). The signature is the
// lowercase or uppercase hex of HMAC-SHA256(key, Canonical).
func Canonical(ts, method string, path, rawQuery, body []byte) []byte {
	b := make([]byte, 0, len(ts)+len(method)+len(path)+len(rawQuery)+len(body)+4)
	b = append(b, ts...)
	b = append(b, '\n')
	b = append(b, method...)
	b = append(b, '\n')
	b = append(b, path...)
	b = append(b, '\n')
	b = append(b, rawQuery...)
	b = append(b, '\n')
	return append(b, body...)
}

// Sign is the hex signature of a request, as a proxy computes it.
func Sign(key []byte, ts, method string, path, rawQuery, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(Canonical(ts, method, path, rawQuery, body))
	return hex.EncodeToString(m.Sum(nil))
}

func (a *Authenticator) checkHMAC(r *Request, h *tenant.HMAC) (int, string) {
	sigHex, n := one(r.Header, h.SignatureHeader)
	switch {
	case n == 0:
		return http.StatusUnauthorized, "no signature"
	case n > 1:
		return http.StatusForbidden, "signature header sent more than once"
	}
	tsRaw, n := one(r.Header, h.TimestampHeader)
	switch {
	case n == 0:
		return http.StatusUnauthorized, "no signature timestamp"
	case n > 1:
		return http.StatusForbidden, "signature timestamp header sent more than once"
	}
	ts, ok := unixSeconds(tsRaw)
	if !ok {
		return http.StatusForbidden, "signature timestamp is not decimal Unix seconds"
	}
	now := a.now().Unix()
	window := int64(Window.Seconds())
	if ts < now-window || ts > now+window {
		return http.StatusForbidden, "signature timestamp outside the 5-minute window"
	}
	var sig [sha256.Size]byte
	if len(sigHex) != 2*len(sig) {
		return http.StatusForbidden, "signature is not 64 hex digits"
	}
	if _, err := hex.Decode(sig[:], sigHex); err != nil {
		return http.StatusForbidden, "signature is not 64 hex digits"
	}
	msg := Canonical(string(tsRaw), r.Method, r.Path, r.RawQuery, r.Body)
	match := 0
	for _, k := range h.Keys {
		m := hmac.New(sha256.New, []byte(k.Key()))
		m.Write(msg)
		match |= subtle.ConstantTimeCompare(m.Sum(nil), sig[:])
	}
	if match != 1 {
		return http.StatusForbidden, "bad signature"
	}
	var key [16]byte
	copy(key[:], sig[:])
	switch a.replays.remember(r.Tenant, key, ts+window, now) {
	case replayed:
		return http.StatusForbidden, "signature replayed"
	case full:
		return http.StatusServiceUnavailable, "replay memory full: too many signed requests within the window"
	}
	return 0, ""
}

func unixSeconds(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 12 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

// replays remembers the signatures accepted within the window, per tenant,
// so that each is accepted once. A signature is forgotten once its
// timestamp has left the window (it would be refused as expired then).
// Memory is bounded per tenant and in all; when a bound is reached, signed
// requests are refused (503) until entries expire: forgetting a live entry
// instead would let its request be replayed.
type replays struct {
	mu        sync.Mutex
	perTenant int
	max       int
	total     int
	tenants   map[string]*seen
}

// seen is one tenant's signatures: a set, and the order they came in. The
// order is close to expiry order (timestamps are near the clock), so
// pruning from the front frees nearly everything that expired; an entry
// that expired behind a later-expiring one waits at most one window more.
type seen struct {
	set   map[[16]byte]int64 // signature prefix -> last second it matters
	queue [][16]byte
	head  int
}

type verdict int

const (
	fresh verdict = iota
	replayed
	full
)

// guaranteedReplays is the most every tenant may remember even when the
// total is reached (a fiftieth of the per-tenant bound, up to this).
const guaranteedReplays = 1000

func newReplays(perTenant, max int) *replays {
	return &replays{perTenant: perTenant, max: max, tenants: map[string]*seen{}}
}

func (rp *replays) remember(tenant string, key [16]byte, exp, now int64) verdict {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	s := rp.tenants[tenant]
	if s == nil {
		s = &seen{set: map[[16]byte]int64{}}
		rp.tenants[tenant] = s
	}
	rp.prune(s, now)
	if _, ok := s.set[key]; ok {
		return replayed
	}
	if rp.total >= rp.max {
		for _, o := range rp.tenants {
			rp.prune(o, now)
		}
	}
	// Past the total, a tenant still gets its guaranteed few: a handful of
	// busy tenants must not refuse every other tenant's signed requests.
	// The total then exceeds max by at most guaranteedReplays per tenant
	// with HMAC configured, which the operator's tenants file bounds.
	if len(s.set) >= rp.perTenant || (rp.total >= rp.max && len(s.set) >= min(guaranteedReplays, rp.perTenant/50)) {
		return full
	}
	s.set[key] = exp
	s.queue = append(s.queue, key)
	rp.total++
	return fresh
}

func (rp *replays) prune(s *seen, now int64) {
	for s.head < len(s.queue) {
		k := s.queue[s.head]
		if s.set[k] >= now {
			break
		}
		delete(s.set, k)
		s.queue[s.head] = [16]byte{}
		s.head++
		rp.total--
	}
	if s.head > 1024 && s.head*2 > len(s.queue) {
		n := copy(s.queue, s.queue[s.head:])
		clear(s.queue[n:])
		s.queue = s.queue[:n]
		s.head = 0
	}
	if len(s.set) == 0 && cap(s.queue) > 1024 {
		s.queue, s.head = nil, 0
	}
}
