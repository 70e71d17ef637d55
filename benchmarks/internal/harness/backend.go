package harness

import (
	"net"
	"net/http"
	"time"
)

// SlowBackend is the loopback service a script's slow http.get waits on: it
// answers after delay, or as soon as the caller gives up (so no handler
// outlives the phase by more than the delay).
type SlowBackend struct {
	srv  *http.Server
	Addr string
}

// StartSlowBackend serves /slow on a loopback port.
func StartSlowBackend(delay time.Duration) (*SlowBackend, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	b := &SlowBackend{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, Addr: ln.Addr().String()}
	go func() { _ = b.srv.Serve(ln) }()
	return b, nil
}

// Close drops every connection at once; a handler still sleeping sees its
// request's context end and returns.
func (b *SlowBackend) Close() { _ = b.srv.Close() }
