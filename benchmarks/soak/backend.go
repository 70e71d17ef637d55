package main

import (
	"net"
	"net/http"
	"time"
)

// slowBackend is the loopback service the slow-http bomb's http.get waits on: it
// answers after delay, or as soon as the caller gives up (so no handler
// outlives the phase by more than the delay).
type slowBackend struct {
	srv  *http.Server
	addr string
}

func startSlowBackend(delay time.Duration) (*slowBackend, error) {
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
	b := &slowBackend{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, addr: ln.Addr().String()}
	go func() { _ = b.srv.Serve(ln) }()
	return b, nil
}

// close drops every connection at once; a handler still sleeping sees its
// request's context end and returns.
func (b *slowBackend) close() { _ = b.srv.Close() }
