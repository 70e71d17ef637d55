package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"

	"github.com/dialua/dialua/runtime/server"
	"github.com/dialua/dialua/runtime/tenant"
)

// liveKeys are the settings a reload (SIGHUP) applies while serving. Every
// other setting shapes something built once at start (listeners, the VM
// pool, the stores, the limits compiled into the sandbox): a reload that
// finds one changed says so, naming it, and it takes effect at the next
// restart. The tenants file, which holds the per-tenant limits, is
// re-read whole on every reload.
var liveKeys = map[string]bool{"log-level": true, "access-log": true, "access-log-sample": true}

// reloader re-reads the configuration on SIGHUP from the sources start-up
// read (the same command line, the environment, the --config file now),
// and the tenants file.
type reloader struct {
	args  []string
	fs    *flag.FlagSet // the configuration in force
	level *slog.LevelVar
	srv   *server.Server
	reg   *tenant.Registry
	log   *slog.Logger
}

// reload applies what it can and logs the outcome; a file that does not
// load leaves the configuration in force unchanged.
func (r *reloader) reload() {
	if n, err := r.reg.Reload(); err != nil {
		r.log.Error("reload: the tenants file does not load; the previous version stays in force", "error", err.Error())
	} else {
		r.log.Info("reload: tenants file read", "tenants", n)
	}
	applied, restart, err := r.config()
	if err != nil {
		r.log.Error("reload: the configuration does not load; the one in force stays", "error", strings.ReplaceAll(err.Error(), "\n", "; "))
		return
	}
	if len(restart) > 0 {
		r.log.Warn("reload: these settings changed and take effect at the next restart", "keys", strings.Join(restart, ","))
	}
	r.log.Info("reload: configuration applied", "changed", strings.Join(applied, ","))
}

// config builds the configuration again and applies the live settings
// that changed; it returns the keys applied and those left for a restart.
func (r *reloader) config() (applied, restart []string, err error) {
	fs, o := newServeFlags()
	if _, _, over := parseArgs(fs, "serve", r.args, "", io.Discard, io.Discard); over {
		return nil, nil, errors.New("the command line no longer parses") // it did at start
	}
	if _, err := loadConfig(fs, cmp.Or(*o.configFile, os.Getenv("DIALUA_CONFIG"))); err != nil {
		return nil, nil, err
	}
	mode, err := accessMode(*o.accessLog)
	if err != nil {
		return nil, nil, err
	}
	level, err := logLevel(*o.logLevel)
	if err != nil {
		return nil, nil, err
	}
	var changed []string
	fs.VisitAll(func(f *flag.Flag) {
		if !configOnly[f.Name] && f.Value.String() != r.fs.Lookup(f.Name).Value.String() {
			changed = append(changed, f.Name)
		}
	})
	sort.Strings(changed)
	for _, k := range changed {
		if !liveKeys[k] {
			restart = append(restart, k)
			continue
		}
		// The flag set in force follows, so the next reload compares
		// with what is applied now.
		if err := r.fs.Set(k, fs.Lookup(k).Value.String()); err != nil {
			return nil, nil, fmt.Errorf("%s: %v", k, err)
		}
		applied = append(applied, k)
	}
	r.level.Set(level)
	r.srv.SetAccessLog(mode, *o.accessSample)
	return applied, restart, nil
}

// accessMode reads --access-log.
func accessMode(s string) (server.AccessLog, error) {
	m, ok := map[string]server.AccessLog{"all": server.AccessAll, "errors": server.AccessErrors, "off": server.AccessOff}[s]
	if !ok {
		return 0, fmt.Errorf("--access-log is all, errors or off, not %q", s)
	}
	return m, nil
}

// logLevel reads --log-level.
func logLevel(s string) (slog.Level, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("bad --log-level %q (debug, info, warn or error)", s)
	}
	return lv, nil
}

// pingOf is the session store's reachability check for /readyz, nil for a
// store that cannot be unreachable (in memory).
func pingOf(store any) func(context.Context) error {
	if p, ok := store.(interface{ Ping(context.Context) error }); ok {
		return p.Ping
	}
	return nil
}
