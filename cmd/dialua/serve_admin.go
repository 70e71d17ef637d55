package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/dialua/dialua/runtime/admin"
	"github.com/dialua/dialua/runtime/deploy"
)

// operatorToken reads the admin API's operator token: --admin-token-file
// when given (the file's content, surrounding white space trimmed), else
// DIALUA_ADMIN_TOKEN; either may be "sha256:<hex>", the token's hash. It
// returns where the token came from, for the log ("" for none).
func operatorToken(file string) (admin.Token, string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return admin.Token{}, "", fmt.Errorf("--admin-token-file: %v", err)
		}
		t, err := admin.ParseToken(string(b))
		if err != nil {
			return admin.Token{}, "", fmt.Errorf("--admin-token-file %s: %v", file, err)
		}
		if !t.Set() {
			return admin.Token{}, "", fmt.Errorf("--admin-token-file %s is empty", file)
		}
		return t, "--admin-token-file", nil
	}
	t, err := admin.ParseToken(os.Getenv("DIALUA_ADMIN_TOKEN"))
	if err != nil {
		return admin.Token{}, "", fmt.Errorf("DIALUA_ADMIN_TOKEN: %v", err)
	}
	if !t.Set() {
		return t, "", nil
	}
	return t, "DIALUA_ADMIN_TOKEN", nil
}

// wantReleases says whether serve opens the release store: always with
// --admin (creating it on first use) or a Redis --release-store (shared by
// the nodes, whichever runs the admin API), else only when a previous run
// left one in data (<data>/releases), so that releases deployed earlier
// keep serving; with none of these, serve is the folder server it was.
func wantReleases(adminAddr, data, store string) bool {
	if adminAddr != "" || isRedisURL(store) {
		return true
	}
	fi, err := os.Stat(filepath.Join(data, "releases"))
	return err == nil && fi.IsDir()
}

func isRedisURL(s string) bool {
	return strings.HasPrefix(s, "redis://") || strings.HasPrefix(s, "rediss://")
}

// openReleases opens --release-store: "disk" (or "") under data, or a
// redis:// URL (deploy.OpenRedis: Redis must answer at start).
func openReleases(data, store string, log *slog.Logger) (deploy.Store, error) {
	switch {
	case store == "" || store == "disk":
		st, err := deploy.OpenDisk(data, log)
		if err != nil {
			return nil, fmt.Errorf("--data %s: %w", data, err)
		}
		return st, nil
	case isRedisURL(store):
		st, err := deploy.OpenRedis(store, deploy.RedisOptions{Logger: log})
		if err != nil {
			return nil, fmt.Errorf("--release-store %s: %w", sessionsName(store), err)
		}
		log.Info("release store: Redis", "release_store", sessionsName(store))
		return st, nil
	}
	return nil, fmt.Errorf("--release-store %q: use disk or a redis://HOST:PORT/DB URL", sessionsName(store))
}

// warnAdminAddr warns when the admin API listens beyond loopback: it
// speaks plain HTTP, so tokens cross the network in the clear unless a
// TLS proxy is in front.
func warnAdminAddr(ln net.Listener, log *slog.Logger) {
	if ta, ok := ln.Addr().(*net.TCPAddr); !ok || ta.IP.IsLoopback() {
		return
	}
	log.Warn("admin API listens beyond loopback over plain HTTP: put a TLS proxy in front of it, or listen on 127.0.0.1", "admin", ln.Addr().String())
}
