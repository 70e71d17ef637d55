package netguard

import (
	"context"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestHostAllowed(t *testing.T) {
	cases := []struct {
		url   string
		allow []string
		want  bool
	}{
		// exact host
		{"https://api.example.com/x", []string{"api.example.com"}, true},
		{"https://api.example.com/x", []string{"example.com"}, false},
		{"https://example.com/x", []string{"api.example.com"}, false},
		{"https://api.example.com/x", nil, false},
		{"https://api.example.com/x", []string{}, false},
		{"https://api.example.com/x", []string{"other.com", "api.example.com"}, true},
		{"https://api.example.com./x", []string{"api.example.com"}, true}, // trailing dot
		{"https://api.example.com.evil.com/x", []string{"api.example.com"}, false},
		// host:port
		{"https://api.example.com:8443/x", []string{"api.example.com:8443"}, true},
		{"https://api.example.com:8443/x", []string{"api.example.com:9443"}, false},
		{"https://api.example.com:8443/x", []string{"api.example.com"}, true}, // no port in entry: any port
		{"https://api.example.com/x", []string{"api.example.com:8443"}, false},
		// default ports
		{"https://api.example.com/x", []string{"api.example.com:443"}, true},
		{"http://api.example.com/x", []string{"api.example.com:80"}, true},
		{"http://api.example.com/x", []string{"api.example.com:443"}, false},
		{"https://api.example.com/x", []string{"api.example.com:80"}, false},
		{"http://api.example.com:80/x", []string{"api.example.com:80"}, true},
		// *.domain
		{"https://a.example.com/", []string{"*.example.com"}, true},
		{"https://a.b.example.com/", []string{"*.example.com"}, true},
		{"https://example.com/", []string{"*.example.com"}, false},
		{"https://evilexample.com/", []string{"*.example.com"}, false},
		{"https://a.evilexample.com/", []string{"*.example.com"}, false},
		{"https://example.com.evil.net/", []string{"*.example.com"}, false},
		{"https://a.example.com:8443/", []string{"*.example.com:8443"}, true},
		{"https://a.example.com/", []string{"*.example.com:8443"}, false},
		{"https://a.example.com/", []string{"*"}, false},
		// case-insensitive, both sides
		{"https://API.Example.COM/", []string{"api.example.com"}, true},
		{"https://api.example.com/", []string{"API.EXAMPLE.COM"}, true},
		{"https://A.EXAMPLE.COM/", []string{"*.Example.Com"}, true},
		// IP literals
		{"http://10.0.0.5/", []string{"10.0.0.5"}, true},
		{"http://10.0.0.5:8080/", []string{"10.0.0.5:8080"}, true},
		{"http://10.0.0.5:8081/", []string{"10.0.0.5:8080"}, false},
		{"http://10.0.0.6/", []string{"10.0.0.5"}, false},
		// IPv6 literals, bracketed or bare, with and without port
		{"http://[2001:db8::1]/", []string{"2001:db8::1"}, true},
		{"http://[2001:db8::1]/", []string{"[2001:db8::1]"}, true},
		{"http://[2001:db8::1]:8080/", []string{"[2001:db8::1]:8080"}, true},
		{"http://[2001:db8::1]:8081/", []string{"[2001:db8::1]:8080"}, false},
		{"http://[2001:db8::1]/", []string{"[2001:db8::1]:80"}, true},
		{"http://[2001:db8::1]/", []string{"[2001:DB8::1]"}, true},
		{"http://[2001:db8::2]/", []string{"2001:db8::1"}, false},
		{"http://[::1]/", []string{"[::1]"}, true},
	}
	for _, c := range cases {
		u, err := url.Parse(c.url)
		if err != nil {
			t.Fatalf("%s: %v", c.url, err)
		}
		if got := hostAllowed(u, c.allow); got != c.want {
			t.Errorf("hostAllowed(%s, %q) = %v, want %v", c.url, c.allow, got, c.want)
		}
	}
}

func TestSpecialAddresses(t *testing.T) {
	cases := []struct {
		ip   string
		want bool
	}{
		// loopback
		{"127.0.0.1", true},
		{"127.1.2.3", true},
		{"::1", true},
		// RFC 1918
		{"10.0.0.1", true},
		{"10.255.255.255", true},
		{"172.16.0.1", true},
		{"172.31.255.254", true},
		{"192.168.0.1", true},
		{"192.168.255.255", true},
		// link-local, including the cloud metadata address
		{"169.254.0.1", true},
		{"169.254.169.254", true},
		{"fe80::1", true},
		{"febf::1", true},
		// unique local
		{"fc00::1", true},
		{"fd12:3456::1", true},
		// carrier-grade NAT
		{"100.64.0.1", true},
		{"100.127.255.254", true},
		// unspecified and "this network"
		{"0.0.0.0", true},
		{"0.1.2.3", true},
		{"::", true},
		// multicast
		{"224.0.0.1", true},
		{"239.255.255.250", true},
		{"ff02::1", true},
		{"ff05::2", true},
		// public: not special
		{"8.8.8.8", false},
		{"1.1.1.1", false},
		{"93.184.216.34", false},
		{"172.15.255.255", false}, // just below 172.16/12
		{"172.32.0.1", false},     // just above
		{"192.169.0.1", false},
		{"100.63.255.255", false}, // just below 100.64/10
		{"100.128.0.1", false},    // just above
		{"11.0.0.1", false},
		{"169.253.255.255", false},
		{"2606:4700:4700::1111", false},
		{"2001:4860:4860::8888", false},
	}
	for _, c := range cases {
		ip := netip.MustParseAddr(c.ip)
		if got := special(ip); got != c.want {
			t.Errorf("special(%s) = %v, want %v", c.ip, got, c.want)
		}
	}
}

// TestSpecialMappedAddresses: dial unmaps every resolved address before the
// check, so an IPv4-mapped IPv6 address is judged as the IPv4 address it
// carries.
func TestSpecialMappedAddresses(t *testing.T) {
	cases := []struct {
		ip   string
		want bool
	}{
		{"::ffff:127.0.0.1", true},
		{"::ffff:10.1.2.3", true},
		{"::ffff:169.254.169.254", true},
		{"::ffff:192.168.1.1", true},
		{"::ffff:100.64.0.1", true},
		{"::ffff:0.0.0.0", true},
		{"::ffff:8.8.8.8", false},
	}
	for _, c := range cases {
		ip := netip.MustParseAddr(c.ip)
		if !ip.Is4In6() {
			t.Fatalf("%s is not a mapped address", c.ip)
		}
		if got := special(ip.Unmap()); got != c.want {
			t.Errorf("special(%s unmapped) = %v, want %v", c.ip, got, c.want)
		}
	}
}

func TestAddressAllowed(t *testing.T) {
	cases := []struct {
		dev   bool
		ip    string
		port  string
		allow []string
		want  bool
	}{
		// a private address must be listed by address
		{false, "10.0.0.5", "80", []string{"10.0.0.5"}, true},
		{false, "10.0.0.5", "80", []string{"10.0.0.6"}, false},
		{false, "10.0.0.5", "80", nil, false},
		{false, "10.0.0.5", "80", []string{"api.example.com"}, false},
		{false, "169.254.169.254", "80", []string{"api.example.com"}, false},
		{false, "169.254.169.254", "80", []string{"169.254.169.254"}, true},
		// port-qualified entries
		{false, "10.0.0.5", "8080", []string{"10.0.0.5:8080"}, true},
		{false, "10.0.0.5", "8081", []string{"10.0.0.5:8080"}, false},
		{false, "10.0.0.5", "8081", []string{"10.0.0.5"}, true},
		// IPv6, bracketed or bare, with a port
		{false, "fd00::5", "443", []string{"fd00::5"}, true},
		{false, "fd00::5", "443", []string{"[fd00::5]"}, true},
		{false, "fd00::5", "443", []string{"[fd00::5]:443"}, true},
		{false, "fd00::5", "80", []string{"[fd00::5]:443"}, false},
		{false, "fd00::6", "443", []string{"fd00::5"}, false},
		// a listed mapped address counts as the IPv4 one
		{false, "10.0.0.5", "80", []string{"::ffff:10.0.0.5"}, true},
		// loopback: never without dev mode, even when listed
		{false, "127.0.0.1", "80", []string{"127.0.0.1"}, false},
		{false, "127.0.0.1", "8080", []string{"127.0.0.1:8080"}, false},
		{false, "::1", "80", []string{"::1"}, false},
		{false, "127.0.0.1", "80", nil, false},
		// dev mode: loopback without listing; private still needs listing
		{true, "127.0.0.1", "80", nil, true},
		{true, "::1", "80", nil, true},
		{true, "10.0.0.5", "80", nil, false},
		{true, "10.0.0.5", "80", []string{"10.0.0.5"}, true},
	}
	for _, c := range cases {
		cl := New(Options{Dev: c.dev})
		if got := cl.addressAllowed(netip.MustParseAddr(c.ip), c.port, c.allow); got != c.want {
			t.Errorf("dev=%v addressAllowed(%s, %s, %q) = %v, want %v", c.dev, c.ip, c.port, c.allow, got, c.want)
		}
	}
}

// backend is an httptest server on 127.0.0.1 that counts the requests it
// received.
type backend struct {
	*httptest.Server
	hits atomic.Int64
}

func newBackend(t *testing.T, h http.HandlerFunc) *backend {
	t.Helper()
	b := &backend{}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(b.Close)
	if !strings.HasPrefix(b.URL, "http://127.0.0.1:") {
		t.Fatalf("backend is not on 127.0.0.1: %s", b.URL)
	}
	return b
}

func (b *backend) hostport() string { return strings.TrimPrefix(b.URL, "http://") }

func hello(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }

func get(c *Client, allow []string, u string) (*Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Do(ctx, &Request{Tenant: "t", Allow: allow, Method: "GET", URL: u, MaxBody: 1 << 20})
}

func TestGuardRefusesHostNotInAllowlist(t *testing.T) {
	b := newBackend(t, hello)
	for _, dev := range []bool{false, true} {
		c := New(Options{Dev: dev})
		_, err := get(c, []string{"api.example.com"}, "http://unlisted.invalid/")
		if !errors.Is(err, ErrNotAllowed) {
			t.Errorf("dev=%v: unlisted host: err %v, want ErrNotAllowed", dev, err)
		}
	}
	// Not dev: the loopback backend itself, unlisted.
	_, err := get(New(Options{}), nil, b.URL)
	if !errors.Is(err, ErrNotAllowed) || !strings.Contains(err.Error(), "allowlist") {
		t.Errorf("unlisted loopback: err %v, want ErrNotAllowed (allowlist)", err)
	}
	if n := b.hits.Load(); n != 0 {
		t.Errorf("backend got %d requests, want 0", n)
	}
}

func TestGuardRefusesListedLoopbackWithoutDev(t *testing.T) {
	b := newBackend(t, hello)
	c := New(Options{})
	for _, allow := range [][]string{{b.hostport()}, {"127.0.0.1"}, {"localhost"}} {
		u := b.URL
		if allow[0] == "localhost" {
			u = strings.Replace(b.URL, "127.0.0.1", "localhost", 1)
		}
		resp, err := get(c, allow, u)
		if err == nil {
			t.Errorf("allow %q: got %d, want refusal", allow, resp.Status)
			continue
		}
		if !strings.Contains(err.Error(), "not allowed") || !strings.Contains(err.Error(), "127.0.0.1") {
			t.Errorf("allow %q: err %q, want the address refused", allow, err)
		}
	}
	if n := b.hits.Load(); n != 0 {
		t.Errorf("backend got %d requests, want 0", n)
	}
}

func TestGuardAllowsLoopbackInDev(t *testing.T) {
	var mu sync.Mutex
	var got http.Header
	b := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = r.Header.Clone()
		mu.Unlock()
		w.Header().Set("X-Reply", "yes")
		w.WriteHeader(201)
		io.WriteString(w, "hello")
	})
	c := New(Options{Dev: true})
	for _, u := range []string{b.URL + "/x", strings.Replace(b.URL, "127.0.0.1", "localhost", 1) + "/x"} {
		resp, err := get(c, nil, u)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if resp.Status != 201 || string(resp.Body) != "hello" || resp.Header.Get("X-Reply") != "yes" {
			t.Errorf("%s: got %d %q %v", u, resp.Status, resp.Body, resp.Header)
		}
		mu.Lock()
		ua := got.Get("User-Agent")
		mu.Unlock()
		if ua != "dialua" {
			t.Errorf("User-Agent %q, want dialua", ua)
		}
	}
	if n := b.hits.Load(); n != 2 {
		t.Errorf("backend got %d requests, want 2", n)
	}
}

func TestGuardBodyCap(t *testing.T) {
	b := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Repeat("x", 100))
	})
	c := New(Options{Dev: true})
	do := func(max int64) (*Response, error) {
		return c.Do(context.Background(), &Request{Tenant: "t", Method: "GET", URL: b.URL, MaxBody: max})
	}
	if _, err := do(99); err == nil || !strings.Contains(err.Error(), "larger than 99 bytes") {
		t.Errorf("100-byte body, cap 99: err %v", err)
	}
	if resp, err := do(100); err != nil || len(resp.Body) != 100 {
		t.Errorf("100-byte body, cap 100: %v", err)
	}
}

func TestGuardRedirects(t *testing.T) {
	target := newBackend(t, hello)
	b := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/away":
			http.Redirect(w, r, "http://elsewhere.invalid/steal", http.StatusFound)
		case "/local":
			http.Redirect(w, r, target.URL+"/ok", http.StatusFound)
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		}
	})
	c := New(Options{Dev: true})
	_, err := get(c, []string{"api.example.com"}, b.URL+"/away")
	if !errors.Is(err, ErrNotAllowed) || !strings.Contains(err.Error(), "redirect") {
		t.Errorf("redirect to an unlisted host: err %v, want ErrNotAllowed", err)
	}
	// Dev mode: a redirect to another loopback backend is fine.
	resp, err := get(c, nil, b.URL+"/local")
	if err != nil || string(resp.Body) != "hello" {
		t.Errorf("redirect to loopback in dev: %v", err)
	}
	_, err = get(c, nil, b.URL+"/loop")
	if err == nil || !strings.Contains(err.Error(), "redirects") {
		t.Errorf("redirect loop: err %v", err)
	}
	if n := target.hits.Load(); n != 1 {
		t.Errorf("redirect target got %d requests, want 1", n)
	}
}

func TestGuardRefusesOtherSchemes(t *testing.T) {
	c := New(Options{Dev: true})
	for _, u := range []string{"ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://127.0.0.1/", "unix:///var/run/x.sock", "127.0.0.1:80/x"} {
		_, err := get(c, []string{"127.0.0.1"}, u)
		if err == nil || !strings.Contains(err.Error(), "bad request") {
			t.Errorf("%s: err %v, want bad request", u, err)
		}
	}
}

func TestGuardTimeout(t *testing.T) {
	b := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	c := New(Options{Dev: true})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	_, err := c.Do(ctx, &Request{Tenant: "t", Method: "GET", URL: b.URL, MaxBody: 100})
	if err == nil || err.Error() != "timeout" {
		t.Errorf("err %v, want timeout", err)
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("took %v", d)
	}
}

func TestGuardPoolsPerTenant(t *testing.T) {
	c := New(Options{Dev: true})
	allow := []string{"api.example.com"}
	a, b := c.client("a", allow, nil, ""), c.client("b", allow, nil, "")
	if a == b {
		t.Error("two tenants share one *http.Client")
	}
	if a.Transport == b.Transport {
		t.Error("two tenants share one transport")
	}
	if c.client("a", allow, nil, "") != a {
		t.Error("a tenant's client is not reused")
	}
	if c.client("a", []string{"other.example.com"}, nil, "") == a {
		t.Error("a changed allowlist reuses the client built for the old one")
	}
	if c.client("a", allow, x509.NewCertPool(), "ca1") == a {
		t.Error("a changed http.ca reuses the client built without it")
	}

	// Real connections: tenant a's second request reuses its connection,
	// tenant b's gets one of its own.
	var mu sync.Mutex
	var ports []string
	srv := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ports = append(ports, r.RemoteAddr)
		mu.Unlock()
		io.WriteString(w, "ok")
	})
	for _, tenant := range []string{"a", "a", "b", "b"} {
		_, err := c.Do(context.Background(), &Request{Tenant: tenant, Method: "GET", URL: srv.URL, MaxBody: 100})
		if err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ports) != 4 {
		t.Fatalf("backend saw %d requests, want 4", len(ports))
	}
	if ports[0] != ports[1] {
		t.Errorf("tenant a did not reuse its connection: %v", ports)
	}
	if ports[2] != ports[3] {
		t.Errorf("tenant b did not reuse its connection: %v", ports)
	}
	if ports[0] == ports[2] {
		t.Errorf("tenant b used tenant a's connection: %v", ports)
	}
}

// The unspecified address reaches this host just as loopback does, so it is
// refused without dev mode even when listed.
func TestUnspecifiedAddressIsLikeLoopback(t *testing.T) {
	c := New(Options{})
	for _, a := range []string{"0.0.0.0", "::"} {
		ip := netip.MustParseAddr(a)
		if c.addressAllowed(ip, "80", []string{a}) {
			t.Errorf("%s allowed without dev mode", a)
		}
		if !New(Options{Dev: true}).addressAllowed(ip, "80", nil) {
			t.Errorf("%s refused in dev mode", a)
		}
	}
}

// A zoned IPv6 literal ends in whatever the zone says; it must not pass as a
// name under a wildcard entry, nor may a wildcard match an IP literal.
func TestWildcardDoesNotMatchAddresses(t *testing.T) {
	allow := []string{"*.acme-billing.net"}
	for _, raw := range []string{
		"http://[::ffff:192.0.2.2%25x.acme-billing.net]:8080/",
		"http://[2606:4700::1%25x.acme-billing.net]/",
	} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		if hostAllowed(u, allow) {
			t.Errorf("%s passed the allowlist %v", raw, allow)
		}
	}
	u, _ := url.Parse("http://pay.acme-billing.net/")
	if !hostAllowed(u, allow) {
		t.Error("a real subdomain is refused")
	}
	for _, a := range []string{"64:ff9b::a00:5", "2002:a00:5::1", "::a00:5", "198.18.0.1", "240.0.0.1", "255.255.255.255"} {
		if !special(netip.MustParseAddr(a)) {
			t.Errorf("%s is not treated as special", a)
		}
	}
}
