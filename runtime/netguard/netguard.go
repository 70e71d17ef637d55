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
	resp, err := c.client(r.Tenant, r.Allow).Do(req)
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
func (c *Client) client(tenant string, allow []string) *http.Client {
	key := tenant + "\x00" + strings.Join(allow, "\x00")
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
		Proxy:                 nil, // a proxy would dial on our behalf, past the address check
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       60 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	hc := &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
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
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() ||
		cgnat.Contains(ip) || (ip.Is4() && ip.As4()[0] == 0) || ip.As16()[0] == 0xff
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

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
		if h == host || strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:]) {
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
