// Package admin is dialua's admin HTTP API (docs/admin.md): releases
// uploaded, activated, put on canary, promoted, rolled back, compared and
// removed per tenant, over runtime/deploy, on a listener of its own
// (net/http: this is not the hot path), plus /healthz and /readyz.
//
// Every /v1 request carries "Authorization: Bearer TOKEN": the operator
// token (any tenant, every endpoint) or one of the tenant's deploy_tokens
// from the tenants file (that tenant only, every endpoint but removing the
// tenant). Tokens are hashed and compared in constant time and never
// logged. With no token configured for a request's tenant (no operator
// token and no deploy_tokens), every request is refused with a message
// saying how to configure one.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dialua/dialua/runtime/deploy"
	"github.com/dialua/dialua/runtime/session"
	"github.com/dialua/dialua/runtime/tenant"
)

// Token is the operator token as the server keeps it: its SHA-256 only.
// The zero Token is "none configured".
type Token struct {
	sum [32]byte
	set bool
}

// MinTokenBytes is the shortest operator token ParseToken accepts.
const MinTokenBytes = 16

// ParseToken reads an operator token: the token itself (at least
// MinTokenBytes, surrounding white space trimmed, as a token file's
// trailing newline), or "sha256:<64 hex digits>", its SHA-256, so that the
// file or variable need not hold the token. "" is no token (zero Token).
func ParseToken(s string) (Token, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Token{}, nil
	}
	if h, ok := strings.CutPrefix(s, "sha256:"); ok {
		var t Token
		if len(h) != 64 {
			return Token{}, errors.New("operator token: sha256: must be followed by 64 hex digits (the SHA-256 of the token)")
		}
		if _, err := hex.Decode(t.sum[:], []byte(h)); err != nil {
			return Token{}, errors.New("operator token: sha256: must be followed by 64 hex digits (the SHA-256 of the token)")
		}
		t.set = true
		return t, nil
	}
	if len(s) < MinTokenBytes {
		return Token{}, fmt.Errorf("operator token is shorter than %d bytes; use a long random one (openssl rand -hex 32)", MinTokenBytes)
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return Token{}, errors.New("operator token holds white space; use a long random one (openssl rand -hex 32)")
	}
	return Token{sum: sha256.Sum256([]byte(s)), set: true}, nil
}

// Set reports whether a token is configured.
func (t Token) Set() bool { return t.set }

// Matches compares a presented token with t in constant time (hashes of
// both).
func (t Token) Matches(presented string) bool {
	if !t.set || presented == "" {
		return false
	}
	sum := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(sum[:], t.sum[:]) == 1
}

func (Token) String() string   { return "[redacted]" }
func (Token) GoString() string { return "[redacted]" }

// Config configures a Server. Store is required.
type Config struct {
	Store deploy.Store
	// Tenants is the tenants file: each tenant's deploy_tokens. Nil: no
	// deploy tokens, the operator token only.
	Tenants *tenant.Registry
	// Operator is the operator token (ParseToken); zero: none.
	Operator Token
	// Sessions is checked by /readyz when it has a Ping method (the Redis
	// store). Nil: not checked.
	Sessions session.Store
	// Limits bound an uploaded bundle (zero values: deploy's defaults).
	Limits deploy.Limits
	// MaxMessage bounds a release's message, in bytes; default 1024.
	MaxMessage int
	Logger     *slog.Logger // default: discard
	// Metrics, when set, answers GET /metrics (Prometheus' text format),
	// without a token, as /healthz does. Nil: 404.
	Metrics http.Handler
	// OnRelease, when set, is told of every authorized release change
	// asked for, once answered: action "upload" (stored, maybe activated
	// or put on canary), "activate", "promote" or "rollback", and whether
	// it was done (an answer under 400).
	OnRelease func(action string, ok bool)
}

// Server is the admin API, an http.Handler.
type Server struct {
	cfg      Config
	log      *slog.Logger
	draining atomic.Bool

	// Uploads in progress: a release is read into memory (up to its
	// limit) and compiled whole, which costs CPU every tenant's calls
	// need, so at most maxUploads run at once, one per tenant.
	uploads   chan struct{}
	uploading sync.Map // tenant -> struct{}

	profiling sync.Mutex // one CPU profile or trace at a time (pprof.go)
}

// maxUploads is how many uploads may be read and checked at once.
const maxUploads = 2

// uploadTimeout bounds reading and checking one upload; a release that
// takes longer to compile is refused.
const uploadTimeout = 60 * time.Second

// New builds the admin API.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("admin: Config.Store is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = 1024
	}
	if cfg.Limits.MaxTotalBytes <= 0 {
		cfg.Limits.MaxTotalBytes = deploy.DefaultMaxTotalBytes
	}
	return &Server{cfg: cfg, log: cfg.Logger, uploads: make(chan struct{}, maxUploads)}, nil
}

// Drain makes /readyz answer 503 from now on (the process is shutting
// down); every other endpoint keeps working.
func (s *Server) Drain() { s.draining.Store(true) }

// HTTPServer is an http.Server for the admin API with timeouts fit for
// uploads of up to the bundle limit.
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// Who made an authorized request, for the log.
const (
	whoOperator = "operator"
	whoTenant   = "tenant token"
)

// exchange is one request in flight: what the log line reports.
type exchange struct {
	w       http.ResponseWriter
	r       *http.Request
	status  int
	tenant  string
	who     string
	release string
}

func (x *exchange) Header() http.Header { return x.w.Header() }

// ServeHTTP routes a request and logs one line for it.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	x := &exchange{w: w, r: r}
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("admin: panic serving request", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p))
			if x.status == 0 {
				s.fail(x, http.StatusInternalServerError, "internal error; see the server's log", nil)
			}
		}
		lvl := slog.LevelInfo
		switch probe := r.URL.Path == "/healthz" || r.URL.Path == "/readyz"; {
		case probe && x.status == http.StatusOK:
			lvl = slog.LevelDebug // a load balancer's probes, every few seconds
		case probe:
			lvl = slog.LevelWarn
		case x.status >= 500:
			lvl = slog.LevelError
		}
		attrs := []any{"method", r.Method, "path", clip(r.URL.Path, 256), "tenant", x.tenant, "status", x.status,
			"who", x.who, "remote", r.RemoteAddr, "ms", time.Since(start).Milliseconds()}
		if x.release != "" {
			attrs = append(attrs, "release", x.release)
		}
		s.log.Log(r.Context(), lvl, "admin request", attrs...)
	}()
	s.route(x)
}

// released tells Config.OnRelease of a release change once x is answered
// (deferred by the handler).
func (s *Server) released(x *exchange, action string) {
	if s.cfg.OnRelease != nil {
		s.cfg.OnRelease(action, x.status > 0 && x.status < 400)
	}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// route is the whole URL space.
func (s *Server) route(x *exchange) {
	r := x.r
	switch r.URL.Path {
	case "/healthz":
		if s.method(x, "GET", "HEAD") {
			s.reply(x, http.StatusOK, map[string]string{"status": "alive"})
		}
		return
	case "/readyz":
		if s.method(x, "GET", "HEAD") {
			s.ready(x)
		}
		return
	case "/metrics":
		if s.cfg.Metrics != nil && s.method(x, "GET", "HEAD") {
			x.status = http.StatusOK
			s.cfg.Metrics.ServeHTTP(x.w, x.r)
			return
		}
	}
	if r.URL.Path == "/debug/pprof" {
		http.Redirect(x.w, r, "/debug/pprof/", http.StatusMovedPermanently)
		x.status = http.StatusMovedPermanently
		return
	}
	if name, ok := strings.CutPrefix(r.URL.Path, "/debug/pprof/"); ok {
		s.pprof(x, name)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/tenants/")
	if !ok {
		s.fail(x, http.StatusNotFound, fmt.Sprintf("no such endpoint %s; the API is under /v1/tenants/{tenant}/ (docs/admin.md)", clip(r.URL.Path, 128)), nil)
		return
	}
	name, action, _ := strings.Cut(rest, "/")
	if strings.Contains(action, "/") {
		s.fail(x, http.StatusNotFound, fmt.Sprintf("no such endpoint %s (docs/admin.md)", clip(r.URL.Path, 128)), nil)
		return
	}
	type route struct {
		methods      []string
		handlers     []func(*exchange)
		operatorOnly bool
	}
	var rt route
	switch action {
	case "":
		rt = route{[]string{"DELETE"}, []func(*exchange){s.removeTenant}, true}
	case "releases":
		rt = route{[]string{"POST", "GET"}, []func(*exchange){s.upload, s.history}, false}
	case "activate":
		rt = route{[]string{"POST"}, []func(*exchange){s.activate}, false}
	case "rollback":
		rt = route{[]string{"POST"}, []func(*exchange){s.rollback}, false}
	case "canary":
		rt = route{[]string{"POST", "DELETE"}, []func(*exchange){s.setCanary, s.abortCanary}, false}
	case "promote":
		rt = route{[]string{"POST"}, []func(*exchange){s.promote}, false}
	case "diff":
		rt = route{[]string{"GET"}, []func(*exchange){s.diff}, false}
	default:
		s.fail(x, http.StatusNotFound, fmt.Sprintf("no such endpoint %q under /v1/tenants/{tenant}/: use releases, activate, rollback, canary, promote or diff (docs/admin.md)", clip(action, 64)), nil)
		return
	}
	h := -1
	for i, m := range rt.methods {
		if r.Method == m || (m == "GET" && r.Method == "HEAD") {
			h = i
		}
	}
	if h < 0 {
		x.Header().Set("Allow", strings.Join(rt.methods, ", "))
		s.fail(x, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed here: use %s", r.Method, strings.Join(rt.methods, " or ")), nil)
		return
	}
	if !deploy.ValidTenant(name) {
		s.fail(x, http.StatusBadRequest, fmt.Sprintf("%q is not a tenant name (letters, digits, '.', '_', '-'; not starting with a dot)", clip(name, 64)), nil)
		return
	}
	x.tenant = name
	if !s.authorize(x, rt.operatorOnly) {
		return
	}
	rt.handlers[h](x)
}

func (s *Server) method(x *exchange, methods ...string) bool {
	for _, m := range methods {
		if x.r.Method == m {
			return true
		}
	}
	x.Header().Set("Allow", strings.Join(methods, ", "))
	s.fail(x, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed here: use %s", x.r.Method, strings.Join(methods, " or ")), nil)
	return false
}

// authorize checks the bearer token for x.tenant: the operator's, or (but
// for operator-only endpoints) one of the tenant's deploy_tokens.
func (s *Server) authorize(x *exchange, operatorOnly bool) bool {
	var tc *tenant.Config
	tenantTokens := func() *tenant.Config {
		if tc == nil && s.cfg.Tenants != nil {
			tc = s.cfg.Tenants.Get(x.tenant)
		}
		return tc
	}
	op := s.cfg.Operator.Set()
	if !op && (operatorOnly || tenantTokens() == nil || len(tenantTokens().DeployTokens) == 0) {
		msg := "no admin token is configured, so the admin API refuses every request: set the operator token with DIALUA_ADMIN_TOKEN or --admin-token-file"
		if !operatorOnly {
			msg += fmt.Sprintf(", or give tenant %s deploy_tokens (sha256: hashes) in the tenants file", x.tenant)
		} else {
			msg += " (removing a tenant needs the operator token)"
		}
		s.fail(x, http.StatusForbidden, msg+"; see docs/admin.md", nil)
		return false
	}
	scheme, tok, _ := strings.Cut(x.r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		x.Header().Set("WWW-Authenticate", `Bearer realm="dialua admin"`)
		s.fail(x, http.StatusUnauthorized, "send Authorization: Bearer TOKEN (the operator token, or a deploy token of tenant "+x.tenant+")", nil)
		return false
	}
	if s.cfg.Operator.Matches(tok) {
		x.who = whoOperator
		return true
	}
	if !operatorOnly && tenantTokens() != nil && tenantTokens().DeployTokenMatches(tok) {
		x.who = whoTenant
		return true
	}
	if operatorOnly {
		s.fail(x, http.StatusForbidden, "this token may not do this: removing a tenant needs the operator token", nil)
	} else {
		s.fail(x, http.StatusForbidden, "this token is not accepted for tenant "+x.tenant+": use the operator token or one of the tenant's deploy tokens", nil)
	}
	return false
}

// errorBody is every error answer.
type errorBody struct {
	Error  string   `json:"error"`
	Errors []string `json:"errors,omitempty"`
}

func (s *Server) reply(x *exchange, status int, v any) {
	x.status = status
	x.Header().Set("Content-Type", "application/json")
	x.Header().Set("Cache-Control", "no-store")
	x.Header().Set("X-Content-Type-Options", "nosniff")
	x.w.WriteHeader(status)
	if x.r.Method == "HEAD" {
		return
	}
	enc := json.NewEncoder(x.w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func (s *Server) fail(x *exchange, status int, msg string, lines []string) {
	s.reply(x, status, errorBody{Error: msg, Errors: lines})
}

// failErr answers an error of runtime/deploy with its status.
func (s *Server) failErr(x *exchange, err error) {
	var ce *deploy.CheckError
	var be *deploy.BundleError
	switch {
	case errors.As(err, &ce):
		s.fail(x, http.StatusUnprocessableEntity, fmt.Sprintf("release refused: %d of its files do not compile; nothing was stored and the live release keeps serving. Fix each file:line listed and upload again", len(ce.Errors)), ce.Lines())
	case errors.As(err, &be):
		status := http.StatusBadRequest
		if tooLarge(be) {
			status = http.StatusRequestEntityTooLarge
		}
		s.fail(x, status, be.Error(), nil)
	case errors.Is(err, deploy.ErrBadName):
		s.fail(x, http.StatusBadRequest, err.Error(), nil)
	case errors.Is(err, deploy.ErrNoTenant):
		s.fail(x, http.StatusNotFound, err.Error()+"; upload a release first (POST /v1/tenants/"+x.tenant+"/releases)", nil)
	case errors.Is(err, deploy.ErrNoRelease), errors.Is(err, deploy.ErrNoFile):
		s.fail(x, http.StatusNotFound, err.Error()+"; GET /v1/tenants/"+x.tenant+"/releases lists the releases", nil)
	case errors.Is(err, deploy.ErrTenantFull):
		s.fail(x, http.StatusInsufficientStorage, err.Error(), nil)
	case errors.Is(err, deploy.ErrConflict):
		s.fail(x, http.StatusConflict, err.Error(), nil)
	case errors.Is(err, deploy.ErrClosed), errors.Is(err, deploy.ErrUnreachable), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		s.fail(x, http.StatusServiceUnavailable, err.Error()+"; try again", nil)
	default:
		// The detail (paths under the data folder) is the operator's: it
		// goes to the log, not to a tenant token's holder.
		s.log.Error("admin: release store error", "tenant", x.tenant, "err", err)
		s.fail(x, http.StatusInternalServerError, "release store error (the server's log has the detail)", nil)
	}
}

// tooLarge tells a bundle refused for a limit (file count, a file's size,
// the decompressed total) from a malformed one. deploy's BundleError does
// not type the reason, so this reads its wording (kept by a test).
func tooLarge(be *deploy.BundleError) bool {
	r := be.Reason
	return strings.HasPrefix(r, "more than ") || strings.Contains(r, "may be at most") || strings.HasPrefix(r, "is larger than ")
}

// readyz: not draining, the session store answers (if it can be pinged),
// the release store is usable.
func (s *Server) ready(x *exchange) {
	ctx, cancel := context.WithTimeout(x.r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{}
	ready := true
	if s.draining.Load() {
		checks["draining"] = "shutting down"
		ready = false
	}
	type pinger interface{ Ping(context.Context) error }
	if p, ok := s.cfg.Sessions.(pinger); ok {
		if err := p.Ping(ctx); err != nil {
			checks["sessions"] = "unreachable: " + err.Error()
			ready = false
		} else {
			checks["sessions"] = "ok"
		}
	}
	_, err := s.cfg.Store.Tenants(ctx)
	if p, ok := s.cfg.Store.(pinger); ok && err == nil {
		err = p.Ping(ctx)
	}
	if err != nil {
		checks["releases"] = "unusable: " + err.Error()
		ready = false
	} else {
		checks["releases"] = "ok"
	}
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	s.reply(x, status, map[string]any{"ready": ready, "checks": checks})
}
