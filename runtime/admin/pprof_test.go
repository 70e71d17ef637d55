package admin_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"runtime/pprof"
	"strings"
	"testing"
)

// Profiles on the admin listener: the operator token only (a tenant's
// deploy token and no token are refused), real pprof data back, bounded
// seconds, one CPU profile at a time.
func TestPprofOperatorOnly(t *testing.T) {
	e := newEnv(t, envOptions{operator: operatorToken})
	for _, tok := range []string{"", acmeToken} {
		if a := e.call("GET", "/debug/pprof/heap", tok, nil); a.status != http.StatusUnauthorized {
			t.Errorf("heap with token %q: %d %s", tok, a.status, a.body)
		}
	}
	a := e.call("GET", "/debug/pprof/", operatorToken, nil)
	if a.status != 200 || !strings.Contains(string(a.body), "/debug/pprof/goroutine") {
		t.Fatalf("index: %d %s", a.status, a.body)
	}
	a = e.call("GET", "/debug/pprof/heap", operatorToken, nil)
	if a.status != 200 {
		t.Fatalf("heap: %d %s", a.status, a.body)
	}
	if err := isProfile(a.body); err != nil {
		t.Fatalf("heap is not a profile: %v", err)
	}
	a = e.call("GET", "/debug/pprof/goroutine?debug=1", operatorToken, nil)
	if a.status != 200 || !strings.Contains(string(a.body), "goroutine profile:") {
		t.Fatalf("goroutine text: %d %.200s", a.status, a.body)
	}
	a = e.call("GET", "/debug/pprof/profile?seconds=1", operatorToken, nil)
	if a.status != 200 {
		t.Fatalf("cpu profile: %d %s", a.status, a.body)
	}
	if err := isProfile(a.body); err != nil {
		t.Fatalf("cpu profile: %v", err)
	}
	for _, q := range []string{"seconds=0", "seconds=61", "seconds=x"} {
		if a := e.call("GET", "/debug/pprof/profile?"+q, operatorToken, nil); a.status != http.StatusBadRequest {
			t.Errorf("profile?%s: %d %s", q, a.status, a.body)
		}
	}
	if a := e.call("GET", "/debug/pprof/cmdline", operatorToken, nil); a.status != http.StatusNotFound {
		t.Errorf("cmdline (not served: it shows the command line): %d", a.status)
	}
	// A CPU profile already running (here the test's own) is a 409, not
	// a broken answer.
	var buf strings.Builder
	if err := pprof.StartCPUProfile(&buf); err == nil {
		a := e.call("GET", "/debug/pprof/profile?seconds=1", operatorToken, nil)
		pprof.StopCPUProfile()
		if a.status != http.StatusConflict {
			t.Errorf("profile while another runs: %d %s", a.status, a.body)
		}
	}
}

// With no operator token configured, profiles are refused outright.
func TestPprofWithoutOperatorToken(t *testing.T) {
	e := newEnv(t, envOptions{})
	if a := e.call("GET", "/debug/pprof/heap", acmeToken, nil); a.status != http.StatusForbidden {
		t.Errorf("heap: %d %s", a.status, a.body)
	}
}

// isProfile checks b has the shape of Go's pprof output: a gzipped
// protocol buffer, not empty.
func isProfile(b []byte) error {
	z, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return err
	}
	raw, err := io.ReadAll(z)
	if err != nil {
		return err
	}
	if len(raw) < 16 {
		return io.ErrUnexpectedEOF
	}
	return nil
}
