package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/dialua/dialua/runtime/devconsole"
	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/server"
	"github.com/dialua/dialua/runtime/session"
	"github.com/dialua/dialua/runtime/tenant"
)

// devCmd serves the scripts as `serve --dev` does, and the dev phone
// (runtime/devconsole) on a loopback port of its own.
func devCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scripts := fs.String("scripts", "./scripts", "scripts root (one folder per tenant)")
	ivrDir := fs.String("ivr", "./examples", "folder of IVR files (*.ivr.yaml) and scenarios (*.test.yaml) the console offers")
	listen := fs.String("listen", "127.0.0.1:8080", "address the scripts are served on")
	consoleAddr := fs.String("console", "127.0.0.1:8090", "loopback address of the console page")
	tenants := fs.String("tenants", "", "tenants file (default: SCRIPTS/tenants.yaml if present)")
	logLevelName := fs.String("log-level", "info", "terminal log level: debug, info, warn, error (the page shows every call's lines from info)")
	const usage = "usage: dialua dev [--scripts DIR] [--ivr DIR] [--listen ADDR] [--console ADDR]\n\nServes the scripts in dev mode (as serve --dev) and opens the dev phone, a page on its own\nloopback port that places simulated calls through the IVR files live: keypad, prompts,\nevery request and answer with the script's log lines, variables, session, the call flow.\n"
	pos, code, done := parseArgs(fs, "dev", args, usage, stdout, stderr)
	if done {
		return code
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "dialua dev: unexpected argument %q\n", pos[0])
		return 2
	}
	for name, dir := range map[string]string{"scripts": *scripts, "ivr": *ivrDir} {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			fmt.Fprintf(stderr, "dialua dev: --%s folder %s not found\n", name, dir)
			return 2
		}
	}
	if !devconsole.LoopbackAddr(*consoleAddr) {
		fmt.Fprintf(stderr, "dialua dev: --console %s: the console is for this machine only; give a loopback address (127.0.0.1:PORT, [::1]:PORT)\n", *consoleAddr)
		return 2
	}
	lv, err := logLevel(*logLevelName)
	if err != nil {
		fmt.Fprintf(stderr, "dialua dev: %v\n", err)
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "dialua dev: %v\n", err)
		return 1
	}
	cln, err := net.Listen("tcp", *consoleAddr)
	if err != nil {
		ln.Close()
		fmt.Fprintf(stderr, "dialua dev: --console: %v\n", err)
		return 1
	}
	base := "http://" + ln.Addr().String()
	terminal := slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lv})
	sessions := devconsole.NewRecorder(session.NewMemory(session.MemoryLimits{}))
	defer sessions.Close()
	con, err := devconsole.New(devconsole.Config{
		BaseURL: base, IVRDir: *ivrDir, ScriptsDir: *scripts, Sessions: sessions,
		Logger: slog.New(terminal),
	})
	if err != nil {
		ln.Close()
		cln.Close()
		fmt.Fprintf(stderr, "dialua dev: %v\n", err)
		return 1
	}
	defer con.Close()
	log := slog.New(con.LogHandler(terminal))

	tenantsFile := *tenants
	if tenantsFile == "" {
		tenantsFile = filepath.Join(*scripts, "tenants.yaml")
	}
	reg, err := tenant.NewRegistry(tenantsFile, log)
	if err != nil {
		fmt.Fprintf(stderr, "dialua dev: %v\n", err)
		return 1
	}
	eng, err := engine.New(engine.Options{
		ScriptsDir: *scripts, Dev: true, Tenants: reg, Sessions: sessions, Logger: log,
	})
	if err != nil {
		fmt.Fprintf(stderr, "dialua dev: %v\n", err)
		return 1
	}
	defer eng.Close()
	srv := server.New(server.Config{Engine: eng, Logger: log, AccessLog: server.AccessAll})
	web := &http.Server{Handler: con.Handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}

	fmt.Fprintf(stdout, "dialua dev: serving %s on %s (dev mode: scripts may reach loopback backends)\n", *scripts, base)
	fmt.Fprintf(stdout, "dialua dev: the dev phone is on http://%s/ (IVR files from %s); Ctrl-C stops\n", cln.Addr().String(), *ivrDir)

	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	go func() {
		if err := web.Serve(cln); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("console: %w", err)
		}
	}()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	code = 0
	select {
	case err := <-errc:
		if err != nil {
			log.Error("server stopped", "err", err)
			code = 1
		}
	case <-sig:
	}
	con.Close() // ends the calls and their streams
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	web.Shutdown(ctx)
	srv.Shutdown(ctx)
	return code
}
