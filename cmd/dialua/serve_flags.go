package main

import (
	"flag"
	"time"

	"github.com/dialua/dialua/luaapi"
	"github.com/dialua/dialua/runtime/engine"
	"github.com/dialua/dialua/runtime/loader"
	"github.com/dialua/dialua/runtime/sandbox"
	"github.com/dialua/dialua/runtime/server"
)

// serveFlags are dialua serve's settings. They are defined by a function,
// not inline in serve, so that a reload (SIGHUP, reload.go) can build the
// configuration again from the same sources and compare it with the one
// in force.
type serveFlags struct {
	listen         *string
	scripts        *string
	timeout        *time.Duration
	vms            *int
	maxString      *int64
	maxResponse    *int64
	maxMemory      *int64
	maxRunMemory   *int64
	tenantVMs      *int
	gcPercent      *int
	gcHeadroom     *int64
	maxScripts     *int
	maxCache       *int64
	maxTenantCache *int64
	readTimeout    *time.Duration
	writeTimeout   *time.Duration
	idleTimeout    *time.Duration
	maxBody        *int64
	maxHeader      *int64
	poll           *bool
	tenants        *string
	sessionStore   *string
	sessionTTL     *time.Duration
	dev            *bool
	drain          *time.Duration
	logFormat      *string
	logLevel       *string
	accessLog      *string
	accessSample   *int
	adminAddr      *string
	metricsAddr    *string
	adminTokenFile *string
	data           *string
	releaseStore   *string
	configFile     *string
	printCfg       *bool
}

func newServeFlags() (*flag.FlagSet, *serveFlags) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	o := &serveFlags{}
	o.listen = fs.String("listen", "127.0.0.1:8080", "address to listen on")
	o.scripts = fs.String("scripts", "./scripts", "scripts root: one folder per tenant")
	// Sizes take units (64KiB, 4GiB; plain numbers are bytes) and
	// durations are Go durations (flagtypes.go): nonsense is a usage error.
	o.timeout = durationVar(fs, "timeout", engine.DefaultTimeout, "", "deadline for one script run (a `duration` over 0)")
	o.vms = intVar(fs, "vms", 0, 1, "8 per CPU", "Lua VMs that may exist at once (0: 8 per CPU)")
	o.maxString = sizeVar(fs, "max-string", sandbox.DefaultMaxStringBytes, 1, false, "", "largest string a script may build (a `size`: 4MiB)")
	o.maxResponse = sizeVar(fs, "max-response", engine.DefaultMaxResponse, 1, false, "", "largest response a script may build (a `size`)")
	o.maxMemory = sizeVar(fs, "max-memory", 4<<30, 1<<20, true, "", "heap `size` past which the runs holding the most memory are stopped (also Go's soft memory limit); off (or negative): no watchdog, no limit")
	o.maxRunMemory = sizeVar(fs, "max-run-memory", engine.DefaultMaxRunMemory, 1, true, "", "memory one script run may hold before it is stopped (a `size`); off (or negative): no per-run limit")
	o.tenantVMs = intVar(fs, "tenant-vms", 0, 1, "a quarter of --vms, at least 2", "VMs one tenant may hold at once when the tenants file sets no max_concurrent (0: a quarter of --vms, at least 2)")
	o.gcPercent = intVar(fs, "gc-percent", 0, 1, "use --gc-headroom", "fixed Go garbage-collector target (GOGC) instead of --gc-headroom (0: use the headroom policy)")
	o.gcHeadroom = sizeVar(fs, "gc-headroom", 64<<20, 1<<20, false, "Go's own policy, GOGC=100", "how far (a `size`, at least 1MiB) the heap may grow past the live heap before a collection (at least half the live heap); 0: Go's own policy; see docs")
	o.maxScripts = intVar(fs, "max-scripts", loader.DefaultMaxScripts, 1, "", "compiled scripts kept in memory")
	o.maxCache = sizeVar(fs, "max-cache", loader.DefaultMaxBytes, 1, false, "", "estimated memory of compiled scripts kept, in total (a `size`)")
	o.maxTenantCache = sizeVar(fs, "max-tenant-cache", loader.DefaultMaxTenantBytes, 1, false, "", "estimated memory of compiled scripts kept for one tenant (a `size`)")
	o.readTimeout = durationVar(fs, "read-timeout", server.DefaultReadTimeout, "", "time to read a whole request (a `duration` over 0)")
	o.writeTimeout = durationVar(fs, "write-timeout", server.DefaultWriteTimeout, "", "time to write a whole response (a `duration` over 0)")
	o.idleTimeout = durationVar(fs, "idle-timeout", server.DefaultIdleTimeout, "", "keep-alive idle time (a `duration` over 0)")
	o.maxBody = sizeVar(fs, "max-body", server.DefaultMaxBodyBytes, 1, false, "", "largest request body (a `size`: 64KiB)")
	o.maxHeader = sizeVar(fs, "max-header", server.DefaultMaxHeaderBytes, 1, false, "", "largest request line plus headers (a `size`: 8KiB)")
	o.poll = fs.Bool("poll", false, "re-check script files on request (every 0.5s) instead of watching them; for network file systems")
	o.tenants = fs.String("tenants", "", "per-tenant configuration file (default: tenants.yaml in the scripts folder)")
	o.sessionStore = fs.String("session-store", "memory", "where per-call sessions live: memory, or a redis:// URL shared by several nodes")
	o.sessionTTL = durationVar(fs, "session-ttl", luaapi.DefaultSessionTTL, "", "how long a call's session lives after its last write (a `duration` over 0)")
	o.dev = fs.Bool("dev", false, "development mode: scripts' http calls may reach loopback addresses without listing them")
	o.drain = durationVar(fs, "shutdown-timeout", 10*time.Second, "stop at once", "how long SIGINT/SIGTERM waits for requests in flight (a `duration`; 0: stop at once)")
	o.logFormat = fs.String("log-format", "text", "log format: text or json")
	o.logLevel = fs.String("log-level", "info", "log level: debug, info, warn or error")
	o.accessLog = fs.String("access-log", "all", "access log: all (a line per request, failures at warn and error), errors (4xx and 5xx only) or off")
	o.accessSample = intVar(fs, "access-log-sample", 1, 1, "", "log one in `N` successful requests (failures are always logged)")
	o.adminAddr = fs.String("admin", "", "address of the admin API (releases; docs/admin.md), e.g. 127.0.0.1:9090; off when empty")
	o.metricsAddr = fs.String("metrics", "", "address serving Prometheus metrics at /metrics when there is no --admin listener (with --admin they are at its /metrics), e.g. 127.0.0.1:9091")
	o.adminTokenFile = fs.String("admin-token-file", "", "file holding the admin API's operator token (default: DIALUA_ADMIN_TOKEN)")
	o.data = fs.String("data", "./data", "data directory: the release store, created on first use with --admin, opened without it only when it holds one")
	o.releaseStore = fs.String("release-store", "disk", "where releases live: disk (under --data), or a redis://HOST:PORT/DB URL shared by several nodes")
	o.configFile = fs.String("config", "", "YAML `file` of settings: keys are these flags' names (max-body: 64KiB); precedence: flag > DIALUA_<NAME> variable > file > default (docs/operations.md)")
	o.printCfg = fs.Bool("print-config", false, "print the effective configuration as a --config file (secrets masked) and exit")
	return fs, o
}
