// Package netguard is the outbound HTTP client scripts use. Every request is
// checked against the tenant's allowlist, and every connection against the
// addresses the host name resolved to: private, link-local and other special
// addresses are refused unless the address itself is listed, and loopback
// (the dialua host itself) is refused outright unless the server runs in dev
// mode, where loopback hosts need no listing. The check happens when
// connecting, on the resolved address that is then dialled, so a name that
// changes its answer between check and use cannot slip through. Each tenant
// has its own connection pool, so one tenant's connection is never reused for
// another's request.
package netguard

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Options configure a Client.
type Options struct {
	// Dev allows loopback addresses for every tenant (local backends during
	// development). Never on a shared server.
	Dev bool
}

// maxPools bounds the per-tenant clients kept.
const maxPools = 1000

// Client sends requests for scripts. It is safe for concurrent use.
type Client struct {
	opts  Options
	mu    sync.Mutex
	pools map[string]*http.Client // tenant + allowlist -> client
}

// New makes a client.
func New(opts Options) *Client {
	return &Client{opts: opts, pools: map[string]*http.Client{}}
}

// Request is one outbound call.
type Request struct {
	Tenant  string
	Allow   []string
	Method  string
	URL     string
	Header  http.Header
	Body    []byte
	MaxBody int64
	// RootCAs are the roots to verify an HTTPS server with (nil: the
	// system's), CAKey what tells them apart (tenant.CA.Key).
	RootCAs *x509.CertPool
	CAKey   string
}

// Response is what a script gets back.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// ErrNotAllowed means the host is not on the tenant's allowlist.
var ErrNotAllowed = errors.New("host not allowed")

// Do sends r, bounded by ctx, and reads at most r.MaxBody bytes of the
// answer.
func (c *Client) Do(ctx context.Context, r *Request) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, bodyReader(r.Body))
	if err != nil {
		return nil, fmt.Errorf("bad request: %v", err)
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return nil, fmt.Errorf("bad request: only http and https URLs, got %q", req.URL.Scheme)
	}
	if !hostAllowed(req.URL, r.Allow) && !(c.opts.Dev && loopbackHost(req.URL.Hostname())) {
		return nil, fmt.Errorf("%w: %s is not in this tenant's http allowlist", ErrNotAllowed, req.URL.Host)
	}
	for k, vs := range r.Header {
		req.Header[k] = vs
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "dialua")
	}
	resp, err := c.client(r.Tenant, r.Allow, r.RootCAs, r.CAKey).Do(req)
	if err != nil {
		return nil, simplify(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, r.MaxBody+1))
	if err != nil {
		return nil, simplify(err)
	}
	if int64(len(body)) > r.MaxBody {
		return nil, fmt.Errorf("response body larger than %d bytes", r.MaxBody)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

func bodyReader(b []byte) io.Reader {
	if b == nil {
		return nil
	}
	return strings.NewReader(string(b))
}

// simplify turns transport errors into messages a script author can act on.
func simplify(err error) error {
	var ge *guardError
	if errors.As(err, &ge) {
		return ge
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return errors.New("timeout")
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// client returns the tenant's pooled client for this allowlist.
func (c *Client) client(tenant string, allow []string, roots *x509.CertPool, caKey string) *http.Client {
	key := tenant + "\x00" + caKey + "\x00" + strings.Join(allow, "\x00")
	c.mu.Lock()
	defer c.mu.Unlock()
	if hc := c.pools[key]; hc != nil {
		return hc
	}
	if len(c.pools) >= maxPools {
		// Allowlists changed often or many tenants call out: start over
		// rather than keep every pool forever.
		for k, old := range c.pools {
			old.CloseIdleConnections()
			delete(c.pools, k)
		}
	}
	list := append([]string(nil), allow...)
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return c.dial(ctx, dialer, network, addr, list)
		},
		Proxy:                  nil, // a proxy would dial on our behalf, past the address check
		MaxResponseHeaderBytes: 64 << 10,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        60 * time.Second,
		TLSHandshakeTimeout:    5 * time.Second,
		// Certificates are always checked, against the tenant's roots.
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		ResponseHeaderTimeout: 30 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	hc := &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > 5 {
				return errors.New("stopped after 5 redirects")
			}
			if !hostAllowed(req.URL, list) && !(c.opts.Dev && loopbackHost(req.URL.Hostname())) {
				return fmt.Errorf("%w: redirect to %s is not in this tenant's http allowlist", ErrNotAllowed, req.URL.Host)
			}
			return nil
		},
	}
	c.pools[key] = hc
	return hc
}

type guardError struct{ msg string }

func (e *guardError) Error() string { return e.msg }
func (e *guardError) Unwrap() error { return ErrNotAllowed }

// dial resolves addr, refuses special addresses that are not listed, and
// connects to the first acceptable address.
func (c *Client) dial(ctx context.Context, d *net.Dialer, network, addr string, allow []string) (net.Conn, error) {
	// One deadline for resolving and every attempt: the HTTP client keeps
	// dialling after a request is cancelled, and must not do so for long.
	ctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	var refused []string
	var lastErr error
	if len(ips) > 4 {
		ips = ips[:4]
	}
	for _, ip := range ips {
		ip = ip.Unmap()
		if special(ip) && !c.addressAllowed(ip, port, allow) {
			refused = append(refused, ip.String())
			continue
		}
		conn, err := d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return conn, nil
		}
		lastErr = err
	}
	if lastErr != nil {
		return nil, lastErr
	}
	return nil, &guardError{fmt.Sprintf("%s: address %s not allowed (private and link-local addresses must be listed by address; loopback only in dev mode)", ErrNotAllowed, strings.Join(refused, ", "))}
}

// special reports addresses a script must not reach unless listed: anything
// but ordinary public unicast.
func special(ip netip.Addr) bool {
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() {
		return true
	}
	for _, p := range specialPrefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// specialPrefixes are the ranges beyond the standard library's predicates
// that are not ordinary public unicast: shared, reserved, benchmarking and
// documentation IPv4 space, and the IPv6 forms that embed an IPv4 address
// (NAT64, 6to4, IPv4-compatible), which could lead to a private one.
var specialPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "255.255.255.255/32",
		"64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "::/96", "100::/64", "2001:db8::/32",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

func (c *Client) addressAllowed(ip netip.Addr, port string, allow []string) bool {
	// Connecting to the unspecified address reaches this host, like loopback.
	if ip.IsLoopback() || ip.IsUnspecified() {
		return c.opts.Dev
	}
	for _, a := range allow {
		h, p := splitEntry(a)
		if p != "" && p != port {
			continue
		}
		if lip, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil && lip.Unmap() == ip {
			return true
		}
	}
	return false
}

// hostAllowed checks a URL's host (and port, 80 or 443 when not given)
// against allowlist entries: "host", "host:port", "*.domain" (any
// subdomain), IP literals likewise.
func hostAllowed(u *url.URL, allow []string) bool {
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if strings.Contains(host, "%") {
		return false // an IPv6 zone: "::1%x.allowed.com" must not pass as a name
	}
	_, ipErr := netip.ParseAddr(host)
	isIP := ipErr == nil
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	for _, a := range allow {
		h, p := splitEntry(strings.ToLower(a))
		h = strings.TrimSuffix(h, ".")
		if p != "" && p != port {
			continue
		}
		if h == host || !isIP && strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:]) {
			return true
		}
	}
	return false
}

// splitEntry splits "host:port" (or "[v6]:port"); a bare host or IPv6 has no
// port.
func splitEntry(a string) (host, port string) {
	if h, p, err := net.SplitHostPort(a); err == nil {
		return strings.Trim(h, "[]"), p
	}
	return strings.Trim(a, "[]"), ""
}

// loopbackHost reports a URL host that names this machine.
func loopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Unmap().IsLoopback()
}
