// Command embed is a small Go program that embeds dialua: the engine, the
// HTTP front end, and a Go CRM exposed to Lua scripts with luar.Value.
//
//	cd examples/embed && go run . [-addr 127.0.0.1:8090] [-scripts scripts]
//	curl '127.0.0.1:8090/acme/welcome?CallerIDNum=0040741234567&CallID=c1'
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/dialua/dialua/luaapi"
	"github.com/dialua/dialua/luaapi/luar"
	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/sandbox"
	"github.com/dialua/dialua/runtime/server"
)

// Customer is what the CRM knows of a caller. Scripts read its exported
// fields; notes is unexported, so no script ever sees it.
type Customer struct {
	Name  string
	Tier  string // "gold" or "standard"
	Queue string // the IVR context that serves the tier
	notes string
}

// CRM looks callers up by phone number. One CRM serves every tenant, so it
// scopes each lookup to the tenant of the run that asks (luar.CallFrom),
// and it honours the run's deadline through ctx.
type CRM struct {
	byTenant map[string]map[string]*Customer // tenant -> phone -> customer
}

// ErrUnknownCaller is what Lookup answers for a number it does not know.
var ErrUnknownCaller = errors.New("unknown caller")

// Lookup finds the customer calling from phone. A script calls it as
// crm:Lookup(phone); ctx is the run's (the script does not pass it).
func (c *CRM) Lookup(ctx context.Context, phone string) (*Customer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err // the run's deadline passed: do no work for it
	}
	call, _ := luar.CallFrom(ctx)
	if cust, ok := c.byTenant[call.Tenant][phone]; ok {
		return cust, nil
	}
	return nil, ErrUnknownCaller
}

func newCRM() *CRM {
	return &CRM{byTenant: map[string]map[string]*Customer{
		"acme": {
			"0040741234567": {Name: "Alice", Tier: "gold", Queue: "QueueGold", notes: "prefers email"},
			"0040749876543": {Name: "Bob", Tier: "standard", Queue: "QueueStandard"},
		},
	}}
}

// serve runs the engine and the HTTP server on ln until ctx ends, then
// shuts the server down (waiting up to 5s for requests in flight).
func serve(ctx context.Context, ln net.Listener, scripts string, log *slog.Logger) error {
	eng, err := engine.New(engine.Options{
		ScriptsDir: scripts,
		Timeout:    500 * time.Millisecond,
		Logger:     log,
		// dialua's own modules (env, http, json, log, session) plus ours.
		Modules: append(luaapi.Standard(luaapi.Deps{}), luar.Value("crm", newCRM())),
	})
	if err != nil {
		return err
	}
	defer eng.Close()
	srv := server.New(server.Config{Engine: eng, Logger: log})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	stop, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(stop); err != nil {
		return err
	}
	return <-done
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "address to listen on")
	scripts := flag.String("scripts", "scripts", "scripts root: one folder per tenant")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	// gopher-lua's array limit is process-wide: the program sets it, once,
	// before building an engine.
	sandbox.LimitArrays()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	log.Info("serving Call Interactive", "addr", ln.Addr().String(), "scripts", *scripts)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, ln, *scripts, log); err != nil {
		log.Error("server failed", "error", err)
		os.Exit(1)
	}
}
