package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/dialua/dialua/runtime/admin"
	"github.com/dialua/dialua/runtime/auth"
	"github.com/dialua/dialua/runtime/deploy"
	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/loader"
	"github.com/dialua/dialua/runtime/sandbox"
	"github.com/dialua/dialua/runtime/server"
	"github.com/dialua/dialua/runtime/session"
	"github.com/dialua/dialua/runtime/tenant"
)

func serve(args []string) int {
	fs, o := newServeFlags()
	const usage = "usage: dialua serve [flags]\n\nServes the scripts folder (one folder per tenant) to IVRs over HTTP.\nEvery flag may also be set by a DIALUA_<NAME> variable (--max-body: DIALUA_MAX_BODY)\nor a key of the --config file (max-body: 64KiB).\n"
	pos, code, over := parseArgs(fs, "serve", args, usage, os.Stdout, os.Stderr)
	if over {
		return code
	}
	if len(pos) > 0 {
		fmt.Fprintf(os.Stderr, "dialua serve: unexpected argument %q\n", pos[0])
		return 2
	}
	from, err := loadConfig(fs, cmp.Or(*o.configFile, os.Getenv("DIALUA_CONFIG")))
	if err != nil {
		fmt.Fprintf(os.Stderr, "dialua serve: %v\n", strings.ReplaceAll(err.Error(), "\n", "\ndialua serve: "))
		return 2
	}
	if *o.printCfg {
		if err := printConfig(os.Stdout, fs, from); err != nil {
			fmt.Fprintf(os.Stderr, "dialua serve: %v\n", err)
			return 1
		}
		return 0
	}
	accessMode, err := accessMode(*o.accessLog)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dialua serve: %v\n", err)
		return 2
	}
	if *o.accessSample < 1 {
		fmt.Fprintln(os.Stderr, "dialua serve: --access-log-sample is 1 or more (1 logs every request)")
		return 2
	}
	if *o.adminTokenFile != "" && *o.adminAddr == "" {
		fmt.Fprintln(os.Stderr, "dialua serve: --admin-token-file needs --admin ADDR (the admin API is off)")
		return 2
	}
	// GC policy: GOGC from the environment wins, then a fixed
	// --gc-percent, else the headroom policy (gcpolicy.go); --max-memory,
	// Go's soft limit, caps the heap in every case.
	switch {
	case os.Getenv("GOGC") != "":
	case *o.gcPercent > 0:
		debug.SetGCPercent(*o.gcPercent)
	case *o.gcHeadroom > 0:
		defer startGCHeadroom(uint64(*o.gcHeadroom)).close()
	}
	if *o.maxMemory > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(*o.maxMemory)
	}
	level := new(slog.LevelVar) // a reload may change it
	log, logOut, err := newLogger(*o.logFormat, *o.logLevel, level)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dialua serve: %v\n", err)
		return 2
	}
	defer logOut.Close()
	useRedisLog(log)
	if fi, err := os.Stat(*o.scripts); err != nil || !fi.IsDir() {
		fmt.Fprintf(os.Stderr, "dialua serve: scripts folder %s not found\n", *o.scripts)
		return 2
	}
	var opToken admin.Token
	var opFrom string
	if *o.adminAddr != "" {
		if opToken, opFrom, err = operatorToken(*o.adminTokenFile); err != nil {
			fmt.Fprintf(os.Stderr, "dialua serve: %v\n", err)
			return 2
		}
	}
	if *o.tenants != "" {
		if _, err := os.Stat(*o.tenants); err != nil {
			fmt.Fprintf(os.Stderr, "dialua serve: --tenants %s: %v\n", *o.tenants, err)
			return 2
		}
	}
	mx, ok := startMetrics(*o.adminAddr, *o.metricsAddr, *o.sessionStore, log)
	if !ok {
		return 1
	}
	defer mx.close()
	store, err := openSessions(*o.sessionStore)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dialua serve: %v\n", err)
		return 2
	}
	defer store.Close()
	// One registry of the tenants file for the engine (limits, env) and
	// the server (inbound authentication).
	tenantsFile := *o.tenants
	if tenantsFile == "" {
		tenantsFile = filepath.Join(*o.scripts, "tenants.yaml")
	}
	reg, err := tenant.NewRegistry(tenantsFile, log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dialua serve: %v\n", err)
		return 1
	}
	// Releases (docs/releases.md): with --admin, or a release store left
	// in --data by an earlier run, the engine serves a tenant's active
	// release and the scripts folder for tenants without one.
	var (
		releases deploy.Store
		source   loader.Source
		picker   engine.Releases
	)
	if wantReleases(*o.adminAddr, *o.data, *o.releaseStore) {
		st, err := openReleases(*o.data, *o.releaseStore, log)
		if err != nil {
			fmt.Fprintf(os.Stderr, "dialua serve: %v\n", err)
			return 1
		}
		defer st.Close()
		folder, err := loader.NewFolder(*o.scripts, !*o.poll, log)
		if err != nil {
			fmt.Fprintf(os.Stderr, "dialua serve: %v\n", err)
			return 1
		}
		src := deploy.NewSource(st, folder)
		defer src.Close()
		pick, err := deploy.NewPicker(st, deploy.PickerOptions{Sessions: store, TTL: *o.sessionTTL, Logger: log})
		if err != nil {
			fmt.Fprintf(os.Stderr, "dialua serve: releases: %v\n", err)
			return 1
		}
		defer pick.Close()
		releases, source, picker = st, src, pick
	}
	eng, err := engine.New(mx.engine(engine.Options{
		Source:              source,
		Releases:            picker,
		Tenants:             reg,
		Sessions:            store,
		SessionTTL:          *o.sessionTTL,
		Dev:                 *o.dev,
		ScriptsDir:          *o.scripts,
		Timeout:             *o.timeout,
		VMs:                 *o.vms,
		MaxResponse:         int(*o.maxResponse),
		MaxScripts:          *o.maxScripts,
		MaxCacheBytes:       *o.maxCache,
		MaxTenantCacheBytes: *o.maxTenantCache,
		Poll:                *o.poll,
		MaxMemory:           *o.maxMemory,
		MaxRunMemory:        *o.maxRunMemory,
		TenantVMs:           *o.tenantVMs,
		Limits:              sandbox.Limits{MaxStringBytes: int(*o.maxString)},
		Logger:              log,
	}))
	if err != nil {
		fmt.Fprintf(os.Stderr, "dialua serve: %v\n", err)
		return 1
	}
	defer eng.Close()
	srv := server.New(mx.server(server.Config{
		Engine: eng, Logger: log, Auth: auth.New(reg, auth.Options{}),
		ReadTimeout: *o.readTimeout, WriteTimeout: *o.writeTimeout, IdleTimeout: *o.idleTimeout,
		MaxBodyBytes: int(*o.maxBody), MaxHeaderBytes: int(*o.maxHeader),
		AccessLog: accessMode, AccessSample: *o.accessSample,
		Ready: pingOf(store),
	}))
	ln, err := net.Listen("tcp", *o.listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dialua serve: %v\n", err)
		return 1
	}
	var adm *admin.Server
	var adminHTTP *http.Server
	var adminLn net.Listener
	if *o.adminAddr != "" {
		if adm, err = admin.New(mx.admin(admin.Config{Store: releases, Tenants: reg, Operator: opToken, Sessions: store, Logger: log})); err != nil {
			ln.Close()
			fmt.Fprintf(os.Stderr, "dialua serve: %v\n", err)
			return 1
		}
		if adminLn, err = net.Listen("tcp", *o.adminAddr); err != nil {
			ln.Close()
			fmt.Fprintf(os.Stderr, "dialua serve: --admin: %v\n", err)
			return 1
		}
		adminHTTP = adm.HTTPServer()
	}
	log.Info("dialua serving", "listen", ln.Addr().String(), "scripts", *o.scripts, "tenants_file", tenantsFile,
		"timeout", o.timeout.String(), "vms", eng.VMs(), "tenant_vms", eng.TenantVMs(),
		"max_run_memory", *o.maxRunMemory, "max_memory", *o.maxMemory, "max_response", *o.maxResponse, "max_string", *o.maxString,
		"sessions", sessionsName(*o.sessionStore), "dev", *o.dev, "releases", releases != nil,
		"access_log", *o.accessLog, "version", versionString())
	if adminLn != nil {
		log.Info("admin API listening", "admin", adminLn.Addr().String(), "data", *o.data, "operator_token", cmp.Or(opFrom, "none"))
		if !opToken.Set() {
			log.Warn("admin API: no operator token (set DIALUA_ADMIN_TOKEN or --admin-token-file); only tenants with deploy_tokens in the tenants file can be managed")
		}
		warnAdminAddr(adminLn, log)
	} else if releases != nil {
		log.Info("serving the releases in --data; the admin API is off (--admin ADDR turns it on)", "data", *o.data)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan error, 2)
	logOut.batch() // from here on, the log is written in batches (logbatch.go)
	go func() { done <- srv.Serve(ln) }()
	if adminHTTP != nil {
		go func() {
			err := adminHTTP.Serve(adminLn)
			if errors.Is(err, http.ErrServerClosed) {
				return
			}
			done <- fmt.Errorf("admin API: %w", err)
		}()
	}
	// SIGHUP re-reads the --config file and the tenants file (reload.go).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	rl := &reloader{args: args, fs: fs, level: level, srv: srv, reg: reg, log: log}
wait:
	for {
		select {
		case err := <-done:
			if err != nil {
				log.Error("server stopped", "err", err)
				return 1
			}
			return 0
		case <-hup:
			rl.reload()
		case s := <-sig:
			log.Info("shutting down; finishing requests in flight", "signal", s.String(), "grace", o.drain.String())
			break wait
		}
	}
	srv.Drain()
	ctx, cancel := context.WithTimeout(context.Background(), *o.drain)
	defer cancel()
	if adm != nil {
		adm.Drain()
		// The admin API stops with the server: requests in flight finish
		// (an upload within the grace period), /readyz says 503 meanwhile.
		defer func() {
			if err := adminHTTP.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("admin API shutdown incomplete", "err", err)
			}
		}()
	}
	if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("shutdown incomplete", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// newLogger builds the process's logger at level, which it sets to
// levelName, writing to stderr through the batch it returns.
func newLogger(format, levelName string, level *slog.LevelVar) (*slog.Logger, *logBatch, error) {
	lv, err := logLevel(levelName)
	if err != nil {
		return nil, nil, err
	}
	level.Set(lv)
	opts := &slog.HandlerOptions{Level: level}
	out := newLogBatch(os.Stderr)
	var h slog.Handler
	switch format {
	case "text":
		h = slog.NewTextHandler(out, opts)
	case "json":
		h = slog.NewJSONHandler(out, opts)
	default:
		return nil, nil, fmt.Errorf("bad --log-format %q (text or json)", format)
	}
	return slog.New(flushOnWarn{h, out}), out, nil
}

// openSessions opens the session store a --session-store value names.
func openSessions(spec string) (session.Store, error) {
	switch {
	case spec == "" || spec == "memory":
		return session.NewMemory(session.MemoryLimits{}), nil
	case strings.HasPrefix(spec, "redis://") || strings.HasPrefix(spec, "rediss://"):
		return session.NewRedis(spec)
	}
	return nil, fmt.Errorf("--session-store %q: use memory or a redis:// URL", spec)
}

// sessionsName is the store for the log, without a password.
func sessionsName(spec string) string {
	if u, err := url.Parse(spec); err == nil && u.User != nil {
		u.User = nil
		return u.String()
	}
	return spec
}
