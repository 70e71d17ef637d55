package auth

import (
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/dialua/dialua/runtime/tenant"
)

type fileConfigs struct{ f *tenant.File }

func (c fileConfigs) Get(name string) *tenant.Config { return c.f.For(name) }

func mustParse(t *testing.T, y string) Configs {
	t.Helper()
	f, err := tenant.Parse([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return fileConfigs{f}
}

func status(err error) int {
	if err == nil {
		return 200
	}
	return err.(*Denied).Status
}

// TestReplayMemoryBounds: signatures are remembered per tenant up to the
// bounds; past them signed requests get 503 (never a forgotten live entry),
// and expired entries free their room.
func TestReplayMemoryBounds(t *testing.T) {
	const key = "0123456789abcdef-key"
	cfgs := mustParse(t, "tenants:\n  a: {auth: {hmac: {keys: ["+key+"]}}}\n  b: {auth: {hmac: {keys: ["+key+"]}}}\n")
	now := time.Unix(1_700_000_000, 0)
	a := New(cfgs, Options{MaxSignaturesPerTenant: 3, MaxSignatures: 5, Now: func() time.Time { return now }})
	n := 0
	signed := func(tenant string) *Request {
		n++
		ts := strconv.FormatInt(now.Unix(), 10)
		path := []byte("/" + tenant + "/main")
		q := []byte("n=" + strconv.Itoa(n))
		h := http.Header{}
		h.Set("X-Dialua-Timestamp", ts)
		h.Set("X-Dialua-Signature", Sign([]byte(key), ts, "GET", path, q, nil))
		return &Request{Tenant: tenant, Method: "GET", Path: path, RawQuery: q, Header: HTTPHeader(h)}
	}
	var first *Request
	for i := range 3 {
		r := signed("a")
		if i == 0 {
			first = r
		}
		if s := status(a.Check(r)); s != 200 {
			t.Fatalf("a #%d: %d", i, s)
		}
	}
	if s := status(a.Check(first)); s != 403 {
		t.Errorf("replay: %d", s)
	}
	if s := status(a.Check(signed("a"))); s != 503 {
		t.Errorf("a past its bound: %d, want 503", s)
	}
	for i := range 2 {
		if s := status(a.Check(signed("b"))); s != 200 {
			t.Fatalf("b #%d: %d", i, s)
		}
	}
	if s := status(a.Check(signed("b"))); s != 503 {
		t.Errorf("past the total bound: %d, want 503", s)
	}
	if a.replays.total != 5 {
		t.Errorf("total %d", a.replays.total)
	}
	// 5 minutes on, the entries still matter (a timestamp at the edge is
	// still accepted); one second later they are gone.
	now = now.Add(Window)
	if s := status(a.Check(first)); s != 403 {
		t.Errorf("replay at the window's edge: %d", s)
	}
	now = now.Add(time.Second)
	if s := status(a.Check(signed("b"))); s != 200 {
		t.Errorf("after expiry: %d", s)
	}
	// Tenant a's expired entries go at its next request (or when the
	// total bound is reached).
	if s := status(a.Check(signed("a"))); s != 200 {
		t.Errorf("a after expiry: %d", s)
	}
	if a.replays.total != 2 || len(a.replays.tenants["a"].set) != 1 {
		t.Errorf("expired entries kept: total %d, a %d", a.replays.total, len(a.replays.tenants["a"].set))
	}
	if err := a.Check(first); err == nil || err.(*Denied).Reason != "signature timestamp outside the 5-minute window" {
		t.Errorf("an old signature: %v", err)
	}
}

// TestClientAddr: X-Forwarded-For counts only from a trusted proxy, read
// from the right.
func TestClientAddr(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, c := range []struct {
		remote string
		xff    []string
		want   string
		ok     bool
	}{
		{"192.0.2.1", []string{"203.0.113.5"}, "192.0.2.1", true}, // not a proxy: header ignored
		{"10.1.1.1", nil, "10.1.1.1", true},
		{"10.1.1.1", []string{"203.0.113.5"}, "203.0.113.5", true},
		{"10.1.1.1", []string{"198.51.100.9, 203.0.113.5"}, "203.0.113.5", true}, // the client wrote the left one
		{"10.1.1.1", []string{"203.0.113.5, 10.2.2.2"}, "203.0.113.5", true},     // two proxies
		{"10.1.1.1", []string{"198.51.100.9", "203.0.113.5, 10.2.2.2"}, "203.0.113.5", true},
		{"10.1.1.1", []string{"10.3.3.3, 10.2.2.2"}, "10.3.3.3", true}, // all proxies: the first
		{"10.1.1.1", []string{"[2001:db8::1]:5060"}, "2001:db8::1", true},
		{"10.1.1.1", []string{"::ffff:203.0.113.5"}, "203.0.113.5", true},
		{"::ffff:10.1.1.1", []string{"203.0.113.5"}, "203.0.113.5", true},
		{"fd00::1", []string{"2001:db8::7"}, "2001:db8::7", true},
		{"10.1.1.1", []string{"unknown"}, "", false},
		{"10.1.1.1", []string{"203.0.113.5, fe80::1%eth0"}, "", false},
	} {
		h := http.Header{}
		for _, v := range c.xff {
			h.Add("X-Forwarded-For", v)
		}
		r := &Request{Remote: netip.MustParseAddr(c.remote), Header: HTTPHeader(h)}
		got, _, ok := clientAddr(r, proxies)
		if ok != c.ok || (ok && got.String() != c.want) {
			t.Errorf("%s %q: %v %v, want %s %v", c.remote, c.xff, got, ok, c.want, c.ok)
		}
	}
}

// TestCanonical pins the signed string's format (docs/tenants.md).
func TestCanonical(t *testing.T) {
	got := string(Canonical("1700000000", "POST", []byte("/acme/main"), []byte("a=1"), []byte("CallID=x")))
	if want := "1700000000\nPOST\n/acme/main\na=1\nCallID=x"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

// With the total reached by busy tenants, another tenant still gets its
// guaranteed share of replay memory.
func TestReplayMemoryGuaranteedShare(t *testing.T) {
	rp := newReplays(50000, 2000)
	var k [16]byte
	n := 0
	next := func() [16]byte { n++; k[0], k[1], k[2] = byte(n), byte(n>>8), byte(n>>16); return k }
	for i := 0; i < 2000; i++ {
		if rp.remember("busy", next(), 1000, 0) != fresh {
			t.Fatalf("busy #%d refused under the total", i)
		}
	}
	if rp.remember("busy", next(), 1000, 0) != full {
		t.Fatal("busy past the total was not refused")
	}
	for i := 0; i < guaranteedReplays; i++ {
		if v := rp.remember("calm", next(), 1000, 0); v != fresh {
			t.Fatalf("calm #%d refused: %v", i, v)
		}
	}
	if rp.remember("calm", next(), 1000, 0) != full {
		t.Error("calm past its guaranteed share was not refused")
	}
}
