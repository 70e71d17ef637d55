// Command noisy measures how much one tenant's hostile scripts cost another
// tenant's well-behaved one on the same dialua server.
//
// It starts `dialua serve --dev` on a generated scripts folder with two
// tenants, calm and attacker, then runs phases of -duration each: the calm
// tenant alone (baseline), then the calm tenant while the attacker runs one
// attack (infinite loops, slow outbound http, memory bombs, a flood of cheap
// requests, traceback bombs). Each phase prints one row: what the calm tenant
// got (throughput, latency, failures) and what the attacker got.
//
//	go build -o /tmp/dialua ./cmd/dialua
//	go run ./benchmarks/noisy -bin /tmp/dialua -duration 10s
//	go run ./benchmarks/noisy -src ../dialua-old   # builds ./cmd/dialua there
//
// Everything is on 127.0.0.1. The harness runs on the same cores as the
// server, so the clients take part of the CPU, as with benchmarks/run.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/dialua/dialua/benchmarks/internal/harness"
)

// attack is one phase's hostile load: clients closed-loop clients requesting
// the attacker's script.
type attack struct {
	name    string // for -phases
	label   string // the row's first column
	script  string // under /attacker/
	clients int
}

type config struct {
	bin, src      string
	duration      time.Duration
	warmup        time.Duration
	settle        time.Duration
	calm          int
	timeout       time.Duration
	backendDelay  time.Duration
	maxMemory     string
	serverArgs    string
	phases        string
	attackerLimit int
	keep          bool
	serverLog     string
	counts        map[string]*int
}

func main() {
	os.Exit(run())
}

func run() int {
	cfg := config{counts: map[string]*int{}}
	flag.StringVar(&cfg.bin, "bin", "", "dialua binary to measure (built from any commit); empty: build ./cmd/dialua from -src")
	flag.StringVar(&cfg.src, "src", ".", "source tree to build the server from when -bin is empty")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "measured window of each phase")
	flag.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "calm-only warm-up before the first phase, not measured (0: none)")
	flag.DurationVar(&cfg.settle, "settle", 2*time.Second, "pause between phases, so the previous attack's runs end and its garbage is collected")
	flag.IntVar(&cfg.calm, "calm", 20, "calm tenant's closed-loop keep-alive clients")
	flag.DurationVar(&cfg.timeout, "timeout", 5*time.Second, "client-side limit of one request; a slower answer counts as a failure")
	flag.DurationVar(&cfg.backendDelay, "backend-delay", 2*time.Second, "how long the slow backend takes to answer the attacker's http.get")
	flag.StringVar(&cfg.maxMemory, "max-memory", "", "pass --max-memory to the server; takes bytes or 512MiB / 1GiB / 2G (empty: the server's default)")
	flag.StringVar(&cfg.serverArgs, "server-args", "", "more flags for `dialua serve`, space-separated (e.g. \"--vms 32 --timeout 500ms\")")
	flag.StringVar(&cfg.phases, "phases", "baseline,loop,slowhttp,membomb,cheap,traceback", "phases to run, in this order")
	flag.IntVar(&cfg.attackerLimit, "attacker-max-concurrent", 0, "cap the attacker with max_concurrent in tenants.yaml (0: no cap, the server's own defences only)")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the generated scripts folder")
	flag.StringVar(&cfg.serverLog, "server-log", "", "also write the server's log to this file (default: only counted, last 64 KiB kept)")
	for _, a := range attacks() {
		n := a.clients
		cfg.counts[a.name] = &n
		flag.IntVar(&n, a.name, a.clients, "attacker clients in the "+a.name+" phase")
	}
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := bench(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "noisy:", err)
		return 1
	}
	return 0
}

func attacks() []attack {
	return []attack{
		{"loop", "infinite loops (`while true do end`) ×%d", "loop", 32},
		{"slowhttp", "slow http (backend answers in %s) ×%d", "slowhttp", 32},
		{"membomb", "memory bombs ×%d", "membomb", 16},
		{"cheap", "%d concurrent cheap requests", "cheap", 200},
		{"traceback", "traceback bombs (`return f()`) ×%d", "traceback", 8},
	}
}

func bench(ctx context.Context, cfg config) error {
	extra, err := serverFlags(cfg)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "dialua-noisy-")
	if err != nil {
		return err
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
			return err
		}
	}
	backend, err := harness.StartSlowBackend(cfg.backendDelay)
	if err != nil {
		return err
	}
	defer backend.Close()
	scripts := dir + "/scripts"
	if err := writeScripts(scripts, backend.Addr, cfg.attackerLimit); err != nil {
		return err
	}
	srv, err := harness.Start(bin, scripts, extra, cfg.serverLog)
	if err != nil {
		return err
	}
	defer srv.Stop()
	fmt.Printf("== %s serve on %s (flags: %s)\n", bin, srv.Addr, strings.Join(extra, " "))

	phases, err := selectPhases(cfg)
	if err != nil {
		return err
	}
	calmClient := newClient(srv.Addr, cfg.calm)
	calmURL := "http://" + srv.Addr + calmPath
	if cfg.warmup > 0 {
		fmt.Printf("== warm-up %s (calm only, not measured)\n", cfg.warmup)
		closedLoop(calmClient, calmURL, cfg.calm, time.Now().Add(cfg.warmup), cfg.timeout, calmMarker)
	}
	var rows []*phaseResult
	var baseline *phaseResult
	for i, ph := range phases {
		if ctx.Err() != nil {
			break
		}
		if i > 0 && cfg.settle > 0 {
			time.Sleep(cfg.settle)
		}
		fmt.Printf("== phase %d/%d: %s (%s)\n", i+1, len(phases), ph.label, cfg.duration)
		row := runPhase(srv, calmClient, calmURL, ph, cfg)
		rows = append(rows, row)
		if ph.name == "baseline" {
			baseline = row
		}
		fmt.Printf("   calm %.0f req/s, %d failed; attacker %s\n", row.calmRate(), row.calm.failed, attackerSummary(row))
		if row.serverDied {
			fmt.Fprintf(os.Stderr, "noisy: the server died during %s; its last output:\n%s\n", ph.label, srv.Log.Tail())
			break
		}
	}
	fmt.Println()
	printReport(os.Stdout, rows, baseline)
	lines, bytes := srv.Log.Counts()
	fmt.Printf("\nserver log: %d lines, %.1f MiB in all (kept in memory only, not written to disk)\n", lines, float64(bytes)/(1<<20))
	return ctx.Err()
}

func attackerSummary(r *phaseResult) string {
	if r.attacker == nil {
		return "idle"
	}
	return fmt.Sprintf("%.0f req/s (%s)", r.attackerRate(), fmtStatuses(r.attacker.statuses))
}

// selectPhases turns -phases into the phase list, with each label filled in.
func selectPhases(cfg config) ([]attack, error) {
	byName := map[string]attack{"baseline": {name: "baseline", label: "nothing (baseline)"}}
	for _, a := range attacks() {
		a.clients = *cfg.counts[a.name]
		switch a.name {
		case "slowhttp":
			a.label = fmt.Sprintf(a.label, cfg.backendDelay, a.clients)
		default:
			a.label = fmt.Sprintf(a.label, a.clients)
		}
		byName[a.name] = a
	}
	var out []attack
	for _, n := range strings.Split(cfg.phases, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		a, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("-phases: unknown phase %q (have baseline, loop, slowhttp, membomb, cheap, traceback)", n)
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-phases: nothing to run")
	}
	return out, nil
}

// serverFlags is what goes after the harness's own serve flags: --max-memory
// in bytes (what the server takes today), then -server-args verbatim.
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

// parseBytes reads 1073741824, 1GiB, 512MiB, 64KiB, 2G, 500M or 10K; the
// single-letter forms are binary too, as memory limits usually mean.
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
