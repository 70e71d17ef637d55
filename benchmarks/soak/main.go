// Command soak runs a dialua server for a long time under mixed traffic and
// checks that nothing a good tenant asks for is ever lost.
//
// It starts its own redis-server on a free loopback port (without
// redis-server installed, the Redis parts are skipped with a message and the
// server keeps sessions in memory) and `dialua serve --dev --session-store
// redis://...` over a generated scripts folder: good tenants whose script
// uses session.incr and set_var and must always answer 200 with the expected
// XML, failing scripts (expected 500), and benchmarks/noisy's bombs at a low
// rate. Meanwhile it hot-swaps a good script every few seconds and now and
// then kills and restarts redis-server. Every -report it prints good
// requests sent and lost and the server's RSS and thread count; at the end a
// summary. It exits 1 if a good request was lost or the server died.
//
//	go build -o /tmp/dialua ./cmd/dialua
//	go run ./benchmarks/soak -bin /tmp/dialua -duration 10m
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/dialua/dialua/benchmarks/internal/harness"
)

type config struct {
	bin, src     string
	duration     time.Duration
	report       time.Duration
	goodTenants  int
	goodClients  int
	goodRate     float64
	goodTimeout  time.Duration
	brokenRate   float64
	bombEvery    time.Duration
	bombs        string
	swapEvery    time.Duration
	swapGrace    time.Duration
	redisEvery   time.Duration
	redisDown    time.Duration
	backendDelay time.Duration
	maxMemory    string
	serverArgs   string
	keep         bool
	serverLog    string
}

func main() {
	var cfg config
	flag.StringVar(&cfg.bin, "bin", "", "dialua binary to soak (built from any commit); empty: build ./cmd/dialua from -src")
	flag.StringVar(&cfg.src, "src", ".", "source tree to build the server from when -bin is empty")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Minute, "how long to soak")
	flag.DurationVar(&cfg.report, "report", 10*time.Second, "how often to print a progress line")
	flag.IntVar(&cfg.goodTenants, "good-tenants", 3, "good tenants, each with one session-using script")
	flag.IntVar(&cfg.goodClients, "good-clients", 8, "keep-alive clients sending good requests")
	flag.Float64Var(&cfg.goodRate, "good-rate", 400, "good requests per second, all clients together (paced, never bursting)")
	flag.DurationVar(&cfg.goodTimeout, "good-timeout", 3*time.Second, "a good request not answered within this is lost")
	flag.Float64Var(&cfg.brokenRate, "broken-rate", 5, "requests per second to the failing scripts")
	flag.DurationVar(&cfg.bombEvery, "bomb-every", 2*time.Second, "each bomb (loop, slow http, memory, traceback) is sent this often")
	flag.StringVar(&cfg.bombs, "bombs", "loop,slowhttp,membomb,traceback", "which bombs to send (comma-separated; empty: none)")
	flag.DurationVar(&cfg.swapEvery, "swap-every", 3*time.Second, "rewrite one good script this often (0: never)")
	flag.DurationVar(&cfg.swapGrace, "swap-grace", time.Second, "how long after a rewrite the previous version may still be served")
	flag.DurationVar(&cfg.redisEvery, "redis-every", time.Minute, "kill and restart redis-server this often (0: never)")
	flag.DurationVar(&cfg.redisDown, "redis-down", 2*time.Second, "how long redis-server stays down each time")
	flag.DurationVar(&cfg.backendDelay, "backend-delay", 2*time.Second, "how long the slow backend takes to answer the slow-http bomb")
	flag.StringVar(&cfg.maxMemory, "max-memory", "", "pass --max-memory to the server; bytes or 512MiB / 1GiB / 2G (empty: the server's default)")
	flag.StringVar(&cfg.serverArgs, "server-args", "", "more flags for `dialua serve`, space-separated")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the generated scripts folder")
	flag.StringVar(&cfg.serverLog, "server-log", "", "also write the server's log to this file (default: only counted, last 64 KiB kept)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	passed, err := soak(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	if !passed {
		fmt.Fprintln(os.Stderr, "soak: FAILED: good requests were lost or the server died")
		os.Exit(1)
	}
}

func soak(ctx context.Context, cfg config) (bool, error) {
	if cfg.goodTenants < 1 || cfg.goodClients < 1 || cfg.goodRate <= 0 {
		return false, fmt.Errorf("need at least one good tenant, one good client and a positive -good-rate")
	}
	for _, b := range strings.Split(cfg.bombs, ",") {
		if b = strings.TrimSpace(b); b != "" && bombScripts[b+".lua"] == "" {
			return false, fmt.Errorf("-bombs: unknown bomb %q (have loop, slowhttp, membomb, traceback)", b)
		}
	}
	dir, err := os.MkdirTemp("", "dialua-soak-")
	if err != nil {
		return false, err
	}
	if cfg.keep {
		fmt.Println("scripts folder (kept):", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	bin := cfg.bin
	if bin == "" {
		fmt.Println("== building ./cmd/dialua in", cfg.src)
		if bin, err = harness.Build(ctx, cfg.src, dir); err != nil {
			return false, err
		}
	}
	extra, err := serverFlags(cfg)
	if err != nil {
		return false, err
	}

	var redis *redisServer
	redisNote := ""
	if rb := findRedis(); rb == "" {
		redisNote = " (redis-server not installed: sessions in memory, no Redis restarts)"
		fmt.Println("== redis-server not found: skipping the Redis parts; the server keeps sessions in memory")
	} else {
		if redis, err = newRedis(rb); err != nil {
			return false, err
		}
		if err := redis.start(); err != nil {
			return false, err
		}
		defer redis.kill()
		extra = append([]string{"--session-store", redis.url()}, extra...)
		fmt.Println("== redis-server on", redis.url())
	}

	backend, err := harness.StartSlowBackend(cfg.backendDelay)
	if err != nil {
		return false, err
	}
	defer backend.Close()
	scripts := dir + "/scripts"
	if err := writeScripts(scripts, cfg.goodTenants, backend.Addr); err != nil {
		return false, err
	}
	srv, err := harness.Start(bin, scripts, extra, cfg.serverLog)
	if err != nil {
		return false, err
	}
	defer srv.Stop()
	fmt.Printf("== %s serve on %s (flags: %s)\n", bin, srv.Addr, strings.Join(extra, " "))

	return drive(ctx, cfg, srv, redis, scripts, redisNote), nil
}

// drive runs every loop for cfg.duration (or until interrupted or the server
// dies), printing progress, then the summary.
func drive(parent context.Context, cfg config, srv *harness.Server, redis *redisServer, scripts, redisNote string) bool {
	ctx, cancel := context.WithTimeout(parent, cfg.duration)
	defer cancel()
	start := time.Now()
	c := newCounters()
	vs := newVersions(cfg.goodTenants, cfg.swapGrace)
	res := make([]*regexp.Regexp, cfg.goodTenants)
	for t := range res {
		res[t] = goodBody(goodTenant(t))
	}
	smp := &sampler{pid: srv.Pid(), start: start}
	smp.take()

	var wg sync.WaitGroup
	goWith := func(f func()) { wg.Add(1); go func() { defer wg.Done(); f() }() }
	good := newClient(srv.Addr, cfg.goodClients)
	interval := time.Duration(float64(cfg.goodClients) / cfg.goodRate * float64(time.Second))
	for i := range cfg.goodClients {
		goWith(func() { goodClient(ctx, good, i, interval, cfg.goodTimeout, res, vs, c) })
	}
	if cfg.brokenRate > 0 {
		broken := newClient(srv.Addr, 1)
		goWith(func() {
			brokenClient(ctx, broken, time.Duration(float64(time.Second)/cfg.brokenRate), 5*time.Second, c)
		})
	}
	if cfg.bombEvery > 0 {
		bombs := newClient(srv.Addr, len(bombScripts))
		for _, script := range strings.Split(cfg.bombs, ",") {
			script = strings.TrimSpace(script)
			if script == "" {
				continue
			}
			goWith(func() { bombClient(ctx, bombs, script, cfg.bombEvery, 5*time.Second, c) })
		}
	}
	goWith(func() { swapLoop(ctx, scripts, vs, cfg.swapEvery) })
	goWith(func() { smp.loop(ctx) })
	restarts := 0
	var restartsMu sync.Mutex
	if redis != nil && cfg.redisEvery > 0 {
		goWith(func() {
			redisLoop(ctx, redis, cfg.redisEvery, cfg.redisDown, func() { restartsMu.Lock(); restarts++; restartsMu.Unlock() })
		})
	}

	died := false
	tick := time.NewTicker(cfg.report)
	var lastSent, lastLost int64
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-srv.Done:
			died = true
			fmt.Fprintf(os.Stderr, "soak: the server died (%v); its last output:\n%s\n", srv.Err, srv.Log.Tail())
			cancel()
			break loop
		case <-tick.C:
			s := smp.take()
			sent, lost := c.goodSent.Load(), c.goodLost.Load()
			redisState := "memory"
			if redis != nil {
				redisState = "up"
				if !redis.isUp() {
					redisState = "DOWN"
				}
			}
			swaps, _, _ := vs.stats()
			restartsMu.Lock()
			r := restarts
			restartsMu.Unlock()
			fmt.Printf("[%6s] good sent %d (+%d) lost %d (+%d) session-down %d | swaps %d | redis %s, %d restarts | RSS %s, threads %d, fds %d\n",
				time.Since(start).Round(time.Second), sent, sent-lastSent, lost, lost-lastLost, c.sessionDown.Load(),
				swaps, redisState, r, mib(s.rssKiB), s.threads, s.fds)
			lastSent, lastLost = sent, lost
		}
	}
	tick.Stop()
	wg.Wait() // every loop returns within its request timeout
	if !died && srv.Alive() {
		smp.take()
	}
	restartsMu.Lock()
	r := restarts
	restartsMu.Unlock()
	ok := printSummary(os.Stdout, time.Since(start), c, vs, r, redisNote, smp.all())
	lines, bytes := srv.Log.Counts()
	fmt.Printf("server log: %d lines, %.1f MiB (kept in memory only)\n", lines, float64(bytes)/(1<<20))
	return ok && !died
}

// redisLoop kills redis-server every interval and starts it again after
// down on the same port.
func redisLoop(ctx context.Context, r *redisServer, every, down time.Duration, restarted func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.kill()
		select {
		case <-ctx.Done():
		case <-time.After(down):
		}
		// Started again even when the soak is ending, so the last requests
		// and the summary see the store as it normally is.
		if err := r.start(); err != nil {
			fmt.Fprintln(os.Stderr, "soak: restarting redis-server:", err)
			return
		}
		restarted()
	}
}

// serverFlags: --max-memory in bytes (what the server takes today), then
// -server-args verbatim.
func serverFlags(cfg config) ([]string, error) {
	var extra []string
	if cfg.maxMemory != "" {
		n, err := parseBytes(cfg.maxMemory)
		if err != nil {
			return nil, fmt.Errorf("-max-memory: %w", err)
		}
		extra = append(extra, "--max-memory", strconv.FormatInt(n, 10))
	}
	return append(extra, strings.Fields(cfg.serverArgs)...), nil
}

// parseBytes reads 1073741824, 1GiB, 512MiB, 64KiB, 2G, 500M or 10K (binary
// units throughout, as memory limits usually mean).
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}}
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range units {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size (bytes, or a number with GiB/MiB/KiB)", s)
	}
	return n * mult, nil
}
