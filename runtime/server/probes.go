package server

import (
	"context"
	"time"

	"github.com/valyala/fasthttp"
)

// readyTimeout bounds /readyz's backend check, so a load balancer's probe
// never hangs on a session store that does not answer.
const readyTimeout = time.Second

// probe answers the health endpoints, which sit before the tenants' URL
// space (a tenant folder named healthz or readyz cannot be served at its
// root): /healthz says the process is alive; /readyz says it should get
// traffic: not draining, and Config.Ready (the session store) answers.
func (s *Server) probe(ctx *fasthttp.RequestCtx, path []byte) bool {
	switch string(path) {
	case "/healthz":
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString("ok\n")
	case "/readyz":
		ctx.SetContentType("text/plain; charset=utf-8")
		if s.draining.Load() {
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
			ctx.SetBodyString("draining\n")
			return true
		}
		if s.cfg.Ready != nil {
			c, cancel := context.WithTimeout(context.Background(), readyTimeout)
			err := s.cfg.Ready(c)
			cancel()
			if err != nil {
				ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
				ctx.SetBodyString("not ready: " + clip(err.Error(), maxLoggedError) + "\n")
				return true
			}
		}
		ctx.SetBodyString("ready\n")
	default:
		return false
	}
	return true
}

// Drain makes /readyz answer 503 from now on, so a load balancer stops
// sending calls before Shutdown closes the listener.
func (s *Server) Drain() { s.draining.Store(true) }

// SetAccessLog changes the access log's mode and sampling (see
// Config.AccessLog) for the requests that start from now on; it is safe
// while serving (a configuration reload).
func (s *Server) SetAccessLog(mode AccessLog, sample int) {
	if sample < 1 {
		sample = 1
	}
	s.accessMode.Store(int32(mode))
	s.accessSample.Store(uint64(sample))
}

// sampleOver says whether the n-th answer under 400 is left out of the
// access log by sampling.
func (s *Server) sampleOver(n uint64) bool {
	k := s.accessSample.Load()
	return k > 1 && n%k != 0
}
