package admin

import (
	"fmt"
	"net/http"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"time"
)

// Profiles are served from runtime/pprof directly rather than through
// net/http/pprof, whose import registers handlers on the process-wide
// http.DefaultServeMux: a library must not do that to its embedder.
//
// They need the operator token: a profile shows the server's code paths
// and goroutine stacks, which a tenant's deploy token must not reveal.

// maxProfileSeconds bounds ?seconds= of the CPU profile and the trace
// (under the admin listener's 2-minute write timeout).
const maxProfileSeconds = 60

// pprofPaths are the endpoints under /debug/pprof/.
var pprofPaths = []string{"profile", "trace", "heap", "allocs", "goroutine", "block", "mutex", "threadcreate"}

// pprof answers /debug/pprof/ and /debug/pprof/{name}.
func (s *Server) pprof(x *exchange, name string) {
	if !s.method(x, "GET") || !s.operator(x) {
		return
	}
	w, q := x.w, x.r.URL.Query()
	switch name {
	case "":
		x.status = http.StatusOK
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "dialua profiles (Go's pprof format; read them with go tool pprof FILE):\n")
		for _, p := range pprofPaths {
			fmt.Fprintf(w, "  /debug/pprof/%s\n", p)
		}
		fmt.Fprintf(w, "profile and trace take ?seconds=N (default 30, at most %d); the others ?debug=1 or 2 for text\n", maxProfileSeconds)
		return
	case "profile", "trace":
		secs := 30
		if v := q.Get("seconds"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxProfileSeconds {
				s.fail(x, http.StatusBadRequest, fmt.Sprintf("seconds is a whole number from 1 to %d, not %q", maxProfileSeconds, clip(v, 32)), nil)
				return
			}
			secs = n
		}
		if !s.profiling.TryLock() {
			s.fail(x, http.StatusConflict, "a CPU profile or trace is already being taken; try again when it ends", nil)
			return
		}
		defer s.profiling.Unlock()
		start, stop := pprof.StartCPUProfile, pprof.StopCPUProfile
		if name == "trace" {
			start, stop = trace.Start, trace.Stop
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
		if err := start(w); err != nil {
			w.Header().Del("Content-Disposition")
			s.fail(x, http.StatusConflict, "cannot start: "+err.Error(), nil)
			return
		}
		x.status = http.StatusOK
		select {
		case <-time.After(time.Duration(secs) * time.Second):
		case <-x.r.Context().Done():
		}
		stop()
		return
	}
	p := pprof.Lookup(name)
	if p == nil || !strings.Contains(" "+strings.Join(pprofPaths, " ")+" ", " "+name+" ") {
		s.fail(x, http.StatusNotFound, fmt.Sprintf("no profile %q: use one of %s", clip(name, 64), strings.Join(pprofPaths, ", ")), nil)
		return
	}
	debug, _ := strconv.Atoi(q.Get("debug"))
	if debug < 0 || debug > 2 {
		debug = 0
	}
	if debug > 0 {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/octet-stream")
	}
	x.status = http.StatusOK
	p.WriteTo(w, debug)
}

// operator checks that the request carries the operator token.
func (s *Server) operator(x *exchange) bool {
	if !s.cfg.Operator.Set() {
		s.fail(x, http.StatusForbidden, "profiles need the operator token, and none is configured (DIALUA_ADMIN_TOKEN or --admin-token-file)", nil)
		return false
	}
	scheme, tok, _ := strings.Cut(x.r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || !s.cfg.Operator.Matches(strings.TrimSpace(tok)) {
		x.Header().Set("WWW-Authenticate", `Bearer realm="dialua admin"`)
		s.fail(x, http.StatusUnauthorized, "profiles need Authorization: Bearer OPERATOR-TOKEN", nil)
		return false
	}
	x.who = whoOperator
	return true
}
