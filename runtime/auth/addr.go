package auth

import (
	"bytes"
	"net/netip"
)

// maxHops bounds the X-Forwarded-For entries read.
const maxHops = 32

// clientAddr is the address the network check applies to: the TCP peer, or,
// when the peer is a trusted proxy and sent X-Forwarded-For, the nearest
// address in that header that is not a trusted proxy (read right to left:
// each proxy appends the address it saw, so everything left of the first
// untrusted hop could have been written by the client). ok is false when a
// trusted proxy sent a header that does not parse.
func clientAddr(r *Request, proxies []netip.Prefix) (addr netip.Addr, fromXFF, ok bool) {
	addr = r.Remote.Unmap()
	if len(proxies) == 0 || !contains(proxies, addr) || r.Header == nil {
		return addr, false, true
	}
	var hops []netip.Addr
	for _, v := range r.Header.PeekAll("X-Forwarded-For") {
		for part := range bytes.SplitSeq(v, []byte{','}) {
			part = bytes.TrimSpace(part)
			if len(part) == 0 {
				continue
			}
			h, good := parseHop(string(part))
			if !good || len(hops) == maxHops {
				return netip.Addr{}, false, false
			}
			hops = append(hops, h)
		}
	}
	if len(hops) == 0 {
		return addr, false, true
	}
	for i := len(hops) - 1; i >= 0; i-- {
		if !contains(proxies, hops[i]) || i == 0 {
			return hops[i], true, true
		}
	}
	return addr, false, true // not reached
}

// parseHop reads one X-Forwarded-For entry: an address, possibly with a
// port ("203.0.113.7:5060", "[2001:db8::1]:5060").
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

func contains(nets []netip.Prefix, a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
