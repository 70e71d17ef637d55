package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
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
	"time"

	"github.com/dialua/dialua/luaapi"
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
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on")
	scripts := fs.String("scripts", "./scripts", "scripts root: one folder per tenant")
	// Sizes take units (64KiB, 4GiB; plain numbers are bytes) and
	// durations are Go durations (flagtypes.go): nonsense is a usage error.
	timeout := durationVar(fs, "timeout", engine.DefaultTimeout, "", "deadline for one script run (a `duration` over 0)")
	vms := intVar(fs, "vms", 0, 1, "8 per CPU", "Lua VMs that may exist at once (0: 8 per CPU)")
	maxString := sizeVar(fs, "max-string", sandbox.DefaultMaxStringBytes, 1, false, "", "largest string a script may build (a `size`: 4MiB)")
	maxResponse := sizeVar(fs, "max-response", engine.DefaultMaxResponse, 1, false, "", "largest response a script may build (a `size`)")
	maxMemory := sizeVar(fs, "max-memory", 4<<30, 1<<20, true, "", "heap `size` past which the runs holding the most memory are stopped (also Go's soft memory limit); off (or negative): no watchdog, no limit")
	maxRunMemory := sizeVar(fs, "max-run-memory", engine.DefaultMaxRunMemory, 1, true, "", "memory one script run may hold before it is stopped (a `size`); off (or negative): no per-run limit")
	tenantVMs := intVar(fs, "tenant-vms", 0, 1, "a quarter of --vms, at least 2", "VMs one tenant may hold at once when the tenants file sets no max_concurrent (0: a quarter of --vms, at least 2)")
	gcPercent := intVar(fs, "gc-percent", 0, 1, "use --gc-headroom", "fixed Go garbage-collector target (GOGC) instead of --gc-headroom (0: use the headroom policy)")
	gcHeadroom := sizeVar(fs, "gc-headroom", 64<<20, 1<<20, false, "Go's own policy, GOGC=100", "how far (a `size`, at least 1MiB) the heap may grow past the live heap before a collection (at least the live heap again); 0: Go's own policy; see docs")
	maxScripts := intVar(fs, "max-scripts", loader.DefaultMaxScripts, 1, "", "compiled scripts kept in memory")
	maxCache := sizeVar(fs, "max-cache", loader.DefaultMaxBytes, 1, false, "", "estimated memory of compiled scripts kept, in total (a `size`)")
	maxTenantCache := sizeVar(fs, "max-tenant-cache", loader.DefaultMaxTenantBytes, 1, false, "", "estimated memory of compiled scripts kept for one tenant (a `size`)")
	readTimeout := durationVar(fs, "read-timeout", server.DefaultReadTimeout, "", "time to read a whole request (a `duration` over 0)")
	writeTimeout := durationVar(fs, "write-timeout", server.DefaultWriteTimeout, "", "time to write a whole response (a `duration` over 0)")
	idleTimeout := durationVar(fs, "idle-timeout", server.DefaultIdleTimeout, "", "keep-alive idle time (a `duration` over 0)")
	maxBody := sizeVar(fs, "max-body", server.DefaultMaxBodyBytes, 1, false, "", "largest request body (a `size`: 64KiB)")
	maxHeader := sizeVar(fs, "max-header", server.DefaultMaxHeaderBytes, 1, false, "", "largest request line plus headers (a `size`: 8KiB)")
	poll := fs.Bool("poll", false, "re-check script files on request (every 0.5s) instead of watching them; for network file systems")
	tenants := fs.String("tenants", "", "per-tenant configuration file (default: tenants.yaml in the scripts folder)")
	sessionStore := fs.String("session-store", "memory", "where per-call sessions live: memory, or a redis:// URL shared by several nodes")
	sessionTTL := durationVar(fs, "session-ttl", luaapi.DefaultSessionTTL, "", "how long a call's session lives after its last write (a `duration` over 0)")
	dev := fs.Bool("dev", false, "development mode: scripts' http calls may reach loopback addresses without listing them")
	drain := durationVar(fs, "shutdown-timeout", 10*time.Second, "stop at once", "how long SIGINT/SIGTERM waits for requests in flight (a `duration`; 0: stop at once)")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	accessLog := fs.String("access-log", "all", "access log: all (a line per request, failures at warn and error), errors (4xx and 5xx only) or off")
	accessSample := intVar(fs, "access-log-sample", 1, 1, "", "log one in `N` successful requests (failures are always logged)")
	adminAddr := fs.String("admin", "", "address of the admin API (releases; docs/admin.md), e.g. 127.0.0.1:9090; off when empty")
	metricsAddr := fs.String("metrics", "", "address serving Prometheus metrics at /metrics when there is no --admin listener (with --admin they are at its /metrics), e.g. 127.0.0.1:9091")
	adminTokenFile := fs.String("admin-token-file", "", "file holding the admin API's operator token (default: DIALUA_ADMIN_TOKEN)")
	data := fs.String("data", "./data", "data directory: the release store, created on first use with --admin, opened without it only when it holds one")
	releaseStore := fs.String("release-store", "disk", "where releases live: disk (under --data), or a redis://HOST:PORT/DB URL shared by several nodes")
	configFile := fs.String("config", "", "YAML `file` of settings: keys are these flags' names (max-body: 64KiB); precedence: flag > DIALUA_<NAME> variable > file > default (docs/operations.md)")
	printCfg := fs.Bool("print-config", false, "print the effective configuration as a --config file (secrets masked) and exit")
	const usage = "usage: dialua serve [flags]\n\nServes the scripts folder (one folder per tenant) to IVRs over HTTP.\nEvery flag may also be set by a DIALUA_<NAME> variable (--max-body: DIALUA_MAX_BODY)\nor a key of the --config file (max-body: 64KiB).\n"
	pos, code, over := parseArgs(fs, "serve", args, usage, os.Stdout, os.Stderr)
	if over {
		return code
	}
	if len(pos) > 0 {
		fmt.Fprintf(os.Stderr, "dialua serve: unexpected argument %q\n", pos[0])
		return 2
	}
	from, err := loadConfig(fs, cmp.Or(*configFile, os.Getenv("DIALUA_CONFIG")))
	if err != nil {
		fmt.Fprintf(os.Stderr, "dialua serve: %v\n", strings.ReplaceAll(err.Error(), "\n", "\ndialua serve: "))
		return 2
	}
	if *printCfg {
		if err := printConfig(os.Stdout, fs, from); err != nil {
			fmt.Fprintf(os.Stderr, "dialua serve: %v\n", err)
			return 1
		}
		return 0
	}
	accessMode, ok := map[string]server.AccessLog{"all": server.AccessAll, "errors": server.AccessErrors, "off": server.AccessOff}[*accessLog]
	if !ok {
		fmt.Fprintf(os.Stderr, "dialua serve: --access-log is all, errors or off, not %q\n", *accessLog)
		return 2
	}
	if *accessSample < 1 {
		fmt.Fprintln(os.Stderr, "dialua serve: --access-log-sample is 1 or more (1 logs every request)")
		return 2
	}
	if *adminTokenFile != "" && *adminAddr == "" {
		fmt.Fprintln(os.Stderr, "dialua serve: --admin-token-file needs --admin ADDR (the admin API is off)")
		return 2
	}
	// GC policy: GOGC from the environment wins, then a fixed
	// --gc-percent, else the headroom policy (gcpolicy.go); --max-memory,
	// Go's soft limit, caps the heap in every case.
	switch {
	case os.Getenv("GOGC") != "":
	case *gcPercent > 0:
		debug.SetGCPercent(*gcPercent)
	case *gcHeadroom > 0:
		defer startGCHeadroom(uint64(*gcHeadroom)).close()
	}
	if *maxMemory > 0 && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(*maxMemory)
	}
	log, err := newLogger(*logFormat, *logLevel)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dialua serve: %v\n", err)
		return 2
	}
	useRedisLog(log)
	if fi, err := os.Stat(*scripts); err != nil || !fi.IsDir() {
		fmt.Fprintf(os.Stderr, "dialua serve: scripts folder %s not found\n", *scripts)
		return 2
	}
	var opToken admin.Token
	var opFrom string
	if *adminAddr != "" {
		if opToken, opFrom, err = operatorToken(*adminTokenFile); err != nil {
			fmt.Fprintf(os.Stderr, "dialua serve: %v\n", err)
			return 2
		}
	}
	if *tenants != "" {
		if _, err := os.Stat(*tenants); err != nil {
			fmt.Fprintf(os.Stderr, "dialua serve: --tenants %s: %v\n", *tenants, err)
			return 2
		}
	}
	mx, ok := startMetrics(*adminAddr, *metricsAddr, *sessionStore, log)
	if !ok {
		return 1
	}
	defer mx.close()
	store, err := openSessions(*sessionStore)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dialua serve: %v\n", err)
		return 2
	}
	defer store.Close()
	// One registry of the tenants file for the engine (limits, env) and
	// the server (inbound authentication).
	tenantsFile := *tenants
	if tenantsFile == "" {
		tenantsFile = filepath.Join(*scripts, "tenants.yaml")
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
	if wantReleases(*adminAddr, *data, *releaseStore) {
		st, err := openReleases(*data, *releaseStore, log)
		if err != nil {
			fmt.Fprintf(os.Stderr, "dialua serve: %v\n", err)
			return 1
		}
		defer st.Close()
		folder, err := loader.NewFolder(*scripts, !*poll, log)
		if err != nil {
			fmt.Fprintf(os.Stderr, "dialua serve: %v\n", err)
			return 1
		}
		src := deploy.NewSource(st, folder)
		defer src.Close()
		pick, err := deploy.NewPicker(st, deploy.PickerOptions{Sessions: store, TTL: *sessionTTL, Logger: log})
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
		SessionTTL:          *sessionTTL,
		Dev:                 *dev,
		ScriptsDir:          *scripts,
		Timeout:             *timeout,
		VMs:                 *vms,
		MaxResponse:         int(*maxResponse),
		MaxScripts:          *maxScripts,
		MaxCacheBytes:       *maxCache,
		MaxTenantCacheBytes: *maxTenantCache,
		Poll:                *poll,
		MaxMemory:           *maxMemory,
		MaxRunMemory:        *maxRunMemory,
		TenantVMs:           *tenantVMs,
		Limits:              sandbox.Limits{MaxStringBytes: int(*maxString)},
		Logger:              log,
	}))
	if err != nil {
		fmt.Fprintf(os.Stderr, "dialua serve: %v\n", err)
		return 1
	}
	defer eng.Close()
	srv := server.New(mx.server(server.Config{
		Engine: eng, Logger: log, Auth: auth.New(reg, auth.Options{}),
		ReadTimeout: *readTimeout, WriteTimeout: *writeTimeout, IdleTimeout: *idleTimeout,
		MaxBodyBytes: int(*maxBody), MaxHeaderBytes: int(*maxHeader),
		AccessLog: accessMode, AccessSample: *accessSample,
	}))
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "dialua serve: %v\n", err)
		return 1
	}
	var adm *admin.Server
	var adminHTTP *http.Server
	var adminLn net.Listener
	if *adminAddr != "" {
		if adm, err = admin.New(mx.admin(admin.Config{Store: releases, Tenants: reg, Operator: opToken, Sessions: store, Logger: log})); err != nil {
			ln.Close()
			fmt.Fprintf(os.Stderr, "dialua serve: %v\n", err)
			return 1
		}
		if adminLn, err = net.Listen("tcp", *adminAddr); err != nil {
			ln.Close()
			fmt.Fprintf(os.Stderr, "dialua serve: --admin: %v\n", err)
			return 1
		}
		adminHTTP = adm.HTTPServer()
	}
	log.Info("dialua serving", "listen", ln.Addr().String(), "scripts", *scripts, "tenants_file", tenantsFile,
		"timeout", timeout.String(), "vms", eng.VMs(), "tenant_vms", eng.TenantVMs(),
		"max_run_memory", *maxRunMemory, "max_memory", *maxMemory, "max_response", *maxResponse, "max_string", *maxString,
		"sessions", sessionsName(*sessionStore), "dev", *dev, "releases", releases != nil,
		"access_log", *accessLog, "version", versionString())
	if adminLn != nil {
		log.Info("admin API listening", "admin", adminLn.Addr().String(), "data", *data, "operator_token", cmp.Or(opFrom, "none"))
		if !opToken.Set() {
			log.Warn("admin API: no operator token (set DIALUA_ADMIN_TOKEN or --admin-token-file); only tenants with deploy_tokens in the tenants file can be managed")
		}
		warnAdminAddr(adminLn, log)
	} else if releases != nil {
		log.Info("serving the releases in --data; the admin API is off (--admin ADDR turns it on)", "data", *data)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan error, 2)
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
	select {
	case err := <-done:
		if err != nil {
			log.Error("server stopped", "err", err)
			return 1
		}
		return 0
	case s := <-sig:
		log.Info("shutting down; finishing requests in flight", "signal", s.String(), "grace", drain.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), *drain)
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

func newLogger(format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad --log-level %q", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("bad --log-format %q (text or json)", format)
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
