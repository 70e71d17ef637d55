// Package server is dialua's HTTP front end: fasthttp in, engine runs, Call
// Interactive XML out. It owns routing, parameter copying, status codes,
// limits and graceful shutdown; it knows nothing about Lua.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"github.com/dialua/dialua/runtime/auth"
	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/protocol"
)

// Authenticator checks a request before the engine sees it (an
// *auth.Authenticator is one). A nil error lets it through; an *auth.Denied
// says how to refuse it, and any other error refuses it with 403.
type Authenticator interface {
	Check(r *auth.Request) error
}

// AccessLog says which requests the access log records.
type AccessLog int

const (
	AccessAll    AccessLog = iota // every request (the default)
	AccessErrors                  // answers of 400 and above only
	AccessOff                     // none
)

// Runner is what the server needs of the engine: one method, so that the
// server knows nothing else of it (an *engine.Engine is one).
type Runner interface {
	// Run executes the script for req and appends the response document
	// to dst; errors as engine.Engine.Run's.
	Run(ctx context.Context, req *protocol.Request, dst []byte) ([]byte, error)
}

// Config tunes the server. Zero values take the defaults noted.
type Config struct {
	Engine Runner       // required
	Logger *slog.Logger // required
	// Auth, when set, checks every script request (after its path and
	// parameters are read, before the engine runs it): inbound
	// authentication per tenant. Nil: no checks.
	Auth Authenticator

	ReadTimeout    time.Duration // whole request read; default 5s
	WriteTimeout   time.Duration // whole response write; default 5s
	IdleTimeout    time.Duration // keep-alive idle; default 60s
	MaxBodyBytes   int           // request body; default 64 KiB
	MaxHeaderBytes int           // request line and headers; default 8 KiB

	// AccessLog and AccessSample choose the access log's lines: one per
	// request, message "request", at Info for answers under 400, Warn for
	// 4xx, Error for 5xx (so a log level of warn keeps only failures).
	// With AccessSample N > 1, one in N answers under 400 is logged;
	// failures always are.
	AccessLog    AccessLog
	AccessSample int

	// Observer hears of every answered request (metrics); nil: nobody,
	// at no cost.
	Observer Observer

	// Ready, when set, is asked by /readyz whether the backends the server
	// needs answer (the session store); an error makes it answer 503.
	Ready func(context.Context) error
}

// Observer is told of every request the handler answered: the tenant and
// the event (protocol.Request.Event: one of four values), both "" when the
// request was refused before its path was read; the status code; and the
// time from the handler's start. It must be cheap and safe for concurrent
// use.
type Observer interface {
	RequestDone(tenant string, status int, event string, d time.Duration)
}

// Defaults of Config.
const (
	DefaultReadTimeout    = 5 * time.Second
	DefaultWriteTimeout   = 5 * time.Second
	DefaultIdleTimeout    = 60 * time.Second
	DefaultMaxBodyBytes   = 64 << 10
	DefaultMaxHeaderBytes = 8 << 10
)

// Server serves Call Interactive requests.
type Server struct {
	cfg  Config
	fs   *fasthttp.Server
	eng  Runner
	log  *slog.Logger
	bufs sync.Pool

	sampled atomic.Uint64 // answers under 400 seen, for AccessSample

	// The access log's settings, changed live by SetAccessLog (a reload).
	accessMode   atomic.Int32
	accessSample atomic.Uint64

	draining atomic.Bool // /readyz answers 503 once set (Drain)
}

// New builds a server; call Serve to start it.
func New(cfg Config) *Server {
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxHeaderBytes <= 0 {
		cfg.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	s := &Server{cfg: cfg, eng: cfg.Engine, log: cfg.Logger}
	s.SetAccessLog(cfg.AccessLog, cfg.AccessSample)
	s.bufs.New = func() any { return new(exchange) }
	s.fs = &fasthttp.Server{
		Handler:               s.Handle,
		Name:                  "dialua",
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		IdleTimeout:           cfg.IdleTimeout,
		MaxRequestBodySize:    cfg.MaxBodyBytes,
		ReadBufferSize:        cfg.MaxHeaderBytes,
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		// The handler reads multipart bodies itself, within its own limits
		// (multipart.go), and only for script requests.
		DisablePreParseMultipartForm: true,
		CloseOnShutdown:              true,
		Logger:                       fasthttpLogger{cfg.Logger},
		ErrorHandler:                 s.protocolError,
	}
	return s
}

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.fs.Serve(ln) }

// Shutdown stops accepting connections and waits for requests in flight to
// finish, or for ctx to end.
func (s *Server) Shutdown(ctx context.Context) error { return s.fs.ShutdownWithContext(ctx) }

// exchange is the per-request scratch space, pooled so the steady state
// allocates only the strings a script may keep.
type exchange struct {
	req    protocol.Request
	params []protocol.Param
	raw    []byte // every string of the request, copied once
	spans  []span
	out    []byte
	auth   auth.Request
}

type span struct{ nameStart, nameEnd, valEnd int }

// Handle serves one request. It is exported for tests and embedding.
func (s *Server) Handle(ctx *fasthttp.RequestCtx) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic serving request", "path", clip(string(ctx.Path()), maxLoggedPath),
				"panic", clip(fmt.Sprint(r), maxLoggedError), "stack", string(debug.Stack()))
			reply(ctx, fasthttp.StatusInternalServerError, protocol.Empty)
		}
	}()
	raw := ctx.URI().PathOriginal()
	if s.probe(ctx, raw) {
		return
	}
	ex := s.bufs.Get().(*exchange)
	defer s.bufs.Put(ex)
	ex.req = protocol.Request{}
	if AccessLog(s.accessMode.Load()) != AccessOff {
		defer s.access(ctx, ex, time.Now())
	}
	if s.cfg.Observer != nil {
		defer s.observe(ctx, ex, time.Now())
	}
	var post bool
	switch string(ctx.Method()) {
	case fasthttp.MethodGet:
	case fasthttp.MethodPost:
		post = true
	default:
		ctx.Response.Header.Set("Allow", "GET, POST")
		reply(ctx, fasthttp.StatusMethodNotAllowed, protocol.Empty)
		return
	}
	form, boundary := bodyURLForm, ""
	if post {
		if form, boundary = postForm(ctx); form == bodyRefused {
			reply(ctx, fasthttp.StatusUnsupportedMediaType, protocol.Empty)
			return
		}
	}
	if err := ex.fill(ctx, raw, post, form, boundary, s.cfg.MaxBodyBytes); err != nil {
		ex.req = protocol.Request{} // the log shows the path as sent
		status := fasthttp.StatusBadRequest
		if errors.Is(err, errTooManyParts) {
			status = fasthttp.StatusRequestEntityTooLarge
		}
		reply(ctx, status, protocol.Empty)
		return
	}
	if s.cfg.Auth != nil && !s.authorize(ctx, ex, raw) {
		return
	}
	out, err := s.eng.Run(context.Background(), &ex.req, ex.out[:0])
	ex.out = out
	if err != nil {
		s.fail(ctx, &ex.req, err)
		return
	}
	ctx.Response.Header.SetContentType(protocol.ContentType)
	ctx.SetBody(out)
}

// access writes the request's access-log line.
func (s *Server) access(ctx *fasthttp.RequestCtx, ex *exchange, start time.Time) {
	status := ctx.Response.StatusCode()
	level := slog.LevelInfo
	switch {
	case status >= 500:
		level = slog.LevelError
	case status >= 400:
		level = slog.LevelWarn
	case AccessLog(s.accessMode.Load()) == AccessErrors:
		return
	case s.sampleOver(s.sampled.Add(1)):
		return
	}
	if !s.log.Enabled(context.Background(), level) {
		return
	}
	req := &ex.req
	tenant, script := req.Tenant, req.Script
	if tenant == "" {
		// Refused before the path was read (a bad path, method or body):
		// the path as sent, bounded.
		script = clip(string(ctx.URI().PathOriginal()), maxLoggedPath)
	}
	remote := ""
	if a := ctx.RemoteAddr(); a != nil {
		remote = a.String()
	}
	s.log.LogAttrs(context.Background(), level, "request",
		slog.String("tenant", tenant), slog.String("script", script),
		slog.String("method", string(ctx.Method())), slog.Int("status", status),
		slog.Float64("ms", float64(time.Since(start).Microseconds())/1000),
		slog.Int("bytes", len(ctx.Response.Body())),
		slog.String("call_id", clip(req.Value(protocol.ParamCallID), maxLoggedCallID)),
		slog.String("event", string(req.Event())),
		slog.String("remote", remote),
		slog.String("release", req.Release))
}

// observe tells the Observer of the request.
func (s *Server) observe(ctx *fasthttp.RequestCtx, ex *exchange, start time.Time) {
	var event protocol.Event
	if ex.req.Tenant != "" {
		event = ex.req.Event()
	}
	s.cfg.Observer.RequestDone(ex.req.Tenant, ctx.Response.StatusCode(), string(event), time.Since(start))
}

var errBadPath = errors.New("not a script path")

// fill copies the path and parameters out of fasthttp's buffers (which are
// reused after the handler returns) into one string, and fails with
// errBadPath when the path is not a valid script path, or with the
// multipart parser's error. Parameters keep the order they were sent in,
// the query's first, then the body's (a URL-encoded form or a multipart
// one): protocol.Request.Get takes the last of a repeated name, so a body
// value overrides the query's and a later repeat an earlier one, as PHP's
// $_REQUEST does.
func (ex *exchange) fill(ctx *fasthttp.RequestCtx, path []byte, post bool, form bodyForm, boundary string, maxBody int) error {
	if len(path) < 2 || path[0] != '/' {
		return errBadPath
	}
	ex.raw = append(ex.raw[:0], path...)
	ex.spans = ex.spans[:0]
	for k, v := range ctx.QueryArgs().All() {
		ex.add(k, v)
	}
	switch {
	case !post:
	case form == bodyMultipart:
		if err := ex.addMultipart(ctx.PostBody(), boundary, maxBody); err != nil {
			return err
		}
	default:
		for k, v := range ctx.PostArgs().All() {
			ex.add(k, v)
		}
	}
	all := string(ex.raw)
	p := all[:len(path)]
	ex.params = ex.params[:0]
	for _, sp := range ex.spans {
		ex.params = append(ex.params, protocol.Param{Name: all[sp.nameStart:sp.nameEnd], Value: all[sp.nameEnd:sp.valEnd]})
	}
	tenant, script := p[1:], ""
	for i := 1; i < len(p); i++ {
		if p[i] == '/' {
			tenant, script = p[1:i], p[i+1:]
			break
		}
	}
	if n := len(script); n > 0 && script[n-1] == '/' {
		script = script[:n-1]
	}
	method := fasthttp.MethodGet
	if post {
		method = fasthttp.MethodPost
	}
	ex.req = protocol.Request{Method: method, Path: p, Tenant: tenant, Script: script, Params: ex.params}
	if !engine.ValidScriptPath(tenant, script) {
		return errBadPath
	}
	return nil
}

func (ex *exchange) add(k, v []byte) {
	start := len(ex.raw)
	ex.raw = append(ex.raw, k...)
	mid := len(ex.raw)
	ex.raw = append(ex.raw, v...)
	ex.spans = append(ex.spans, span{start, mid, len(ex.raw)})
}

// authorize runs the authenticator on a filled exchange and answers a
// refused request: 401 or 403 (or what an *auth.Denied says) with an empty
// <Response>, and one warning naming the tenant, the remote address and the
// reason (an *auth.Denied's reason holds no secret and nothing the client
// sent).
func (s *Server) authorize(ctx *fasthttp.RequestCtx, ex *exchange, path []byte) bool {
	var remote netip.Addr
	if ta, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		remote = ta.AddrPort().Addr().Unmap()
	}
	ar := &ex.auth
	*ar = auth.Request{Tenant: ex.req.Tenant, Remote: remote, Method: ex.req.Method, Path: path,
		RawQuery: ctx.URI().QueryString(), Header: &ctx.Request.Header, Params: ex.params}
	if ex.req.Method == fasthttp.MethodPost {
		ar.Body = ctx.PostBody()
	}
	err := s.cfg.Auth.Check(ar)
	*ar = auth.Request{} // keep no pointer into fasthttp's buffers
	if err == nil {
		return true
	}
	status, reason := fasthttp.StatusForbidden, "authenticator error"
	var d *auth.Denied
	attrs := []any{"tenant", ex.req.Tenant, "script", ex.req.Script, "remote", ctx.RemoteAddr().String()}
	if errors.As(err, &d) {
		status, reason = d.Status, d.Reason
		if d.Challenge {
			ctx.Response.Header.Set("WWW-Authenticate", `Basic realm="dialua"`)
		}
		if d.Client.IsValid() {
			attrs = append(attrs, "client", d.Client.String())
		}
	} else {
		s.log.Error("authenticator failed", "tenant", ex.req.Tenant, "error", clip(err.Error(), maxLoggedError))
	}
	if status != fasthttp.StatusUnauthorized && status != fasthttp.StatusForbidden && status != fasthttp.StatusServiceUnavailable {
		status = fasthttp.StatusForbidden
	}
	s.log.Warn("request refused", append(attrs, "status", status, "reason", reason)...)
	reply(ctx, status, protocol.Empty)
	return false
}

// fail answers a failed run. Every error reply carries an empty <Response>,
// so an IVR that reads the body despite the status simply carries on.
func (s *Server) fail(ctx *fasthttp.RequestCtx, req *protocol.Request, err error) {
	var se *engine.ScriptError
	switch {
	case errors.Is(err, engine.ErrBadPath):
		reply(ctx, fasthttp.StatusBadRequest, protocol.Empty)
	case errors.Is(err, engine.ErrNotFound):
		reply(ctx, fasthttp.StatusNotFound, protocol.Empty)
	case errors.Is(err, engine.ErrTenantBusy):
		s.log.Warn("tenant at its concurrency limit", "tenant", req.Tenant, "script", req.Script)
		reply(ctx, fasthttp.StatusServiceUnavailable, protocol.Empty)
	case errors.Is(err, engine.ErrBusy):
		s.log.Warn("no VM free before the deadline", "tenant", req.Tenant, "script", req.Script)
		reply(ctx, fasthttp.StatusServiceUnavailable, protocol.Empty)
	case errors.As(err, &se):
		// The engine bounds and redacts Message and Traceback; Location
		// is cut from the script's own error text, and the CallID is the
		// caller's.
		s.log.Error("script failed",
			"kind", string(se.Kind), "tenant", req.Tenant, "script", req.Script,
			"location", clip(se.Location, maxLoggedLocation), "error", se.Message,
			"call_id", clip(req.Value(protocol.ParamCallID), maxLoggedCallID), "traceback", se.Traceback)
		reply(ctx, fasthttp.StatusInternalServerError, protocol.Empty)
	default:
		s.log.Error("request failed", "tenant", req.Tenant, "script", req.Script, "error", clip(err.Error(), maxLoggedError))
		reply(ctx, fasthttp.StatusInternalServerError, protocol.Empty)
	}
}

// What the log keeps of values a request or a script controls; tenant and
// script are bounded by the path rules already. maxLoggedCallID is what
// luaapi tags a script's own lines with.
const (
	maxLoggedCallID   = 128
	maxLoggedPath     = 1024
	maxLoggedLocation = 256
	maxLoggedError    = 2048
)

// clip cuts s to at most n bytes, at the start of a UTF-8 sequence, marking
// the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "...[truncated]"
}

func reply(ctx *fasthttp.RequestCtx, status int, body string) {
	ctx.SetStatusCode(status)
	ctx.Response.Header.SetContentType(protocol.ContentType)
	ctx.SetBodyString(body)
}

// protocolError answers requests fasthttp could not parse (too large, bad
// framing, timeouts while reading).
func (s *Server) protocolError(ctx *fasthttp.RequestCtx, err error) {
	status := fasthttp.StatusBadRequest
	var se *fasthttp.ErrSmallBuffer
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status = fasthttp.StatusRequestEntityTooLarge
	case errors.As(err, &se):
		status = fasthttp.StatusRequestHeaderFieldsTooLarge
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		status = fasthttp.StatusRequestTimeout
	}
	reply(ctx, status, protocol.Empty)
}

type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	// fasthttp's messages can quote what a client sent; keep them short.
	f.l.Debug("fasthttp", "detail", clip(fmt.Sprintf(format, args...), maxLoggedError))
}
