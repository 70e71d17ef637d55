package server

import (
	"context"
	"log/slog"
	"net"
	"time"

	"github.com/dialua/dialua/runtime/engine"
)

// Loopback is a dialua server on a free 127.0.0.1 port, for running calls
// and tests against a scripts folder without a separate process.
type Loopback struct {
	URL string // http://127.0.0.1:PORT
	srv *Server
	eng *engine.Engine
}

// StartLoopback serves the scripts folder on a free loopback port.
func StartLoopback(opts engine.Options, log *slog.Logger) (*Loopback, error) {
	opts.Logger = log
	eng, err := engine.New(opts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		eng.Close()
		return nil, err
	}
	srv := New(Config{Engine: eng, Logger: log})
	go srv.Serve(ln)
	return &Loopback{URL: "http://" + ln.Addr().String(), srv: srv, eng: eng}, nil
}

// Close stops the server and the engine.
func (l *Loopback) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l.srv.Shutdown(ctx)
	l.eng.Close()
}
