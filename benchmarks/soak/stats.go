package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dialua/dialua/benchmarks/internal/harness"
)

// sample is the server process as /proc saw it at one moment.
type sample struct {
	at      time.Duration // since the soak started
	rssKiB  int64
	threads int64
	fds     int
}

// sampler reads /proc/PID every second, more often than the reports, so
// min and max see short spikes (a memory bomb's heap) between two reports.
type sampler struct {
	pid   int
	start time.Time
	mu    sync.Mutex
	list  []sample
}

func (s *sampler) take() sample {
	x := sample{at: time.Since(s.start), rssKiB: harness.ProcStatusKiB(s.pid, "VmRSS:"),
		threads: harness.ProcStatusKiB(s.pid, "Threads:"), fds: harness.OpenFDs(s.pid)}
	s.mu.Lock()
	s.list = append(s.list, x)
	s.mu.Unlock()
	return x
}

func (s *sampler) loop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.take()
		}
	}
}

func (s *sampler) all() []sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.list)
}

func mib(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

// fmtCounts lists status counts, most frequent first.
func fmtCounts(m map[string]int64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, m[k])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// flatness says whether a series stayed flat, and how that was judged: the
// first 20% of the samples are warm-up (VM pool filling, scripts compiling,
// the collector finding its heap size) and are skipped; the rest is cut in
// two halves, and the later half must not be above the earlier one by more
// than the slack. RSS compares medians (a memory bomb's spike, which Go
// returns to the system only slowly, should not decide it alone) with 10% +
// 16 MiB of slack; threads and descriptors compare maxima (they only grow on
// a leak or on ever more blocking) with a small fixed slack.
func flatness(list []sample, value func(sample) int64, useMedian bool, relSlack float64, absSlack int64) (bool, string) {
	skip := len(list) / 5
	rest := list[skip:]
	if len(rest) < 6 {
		return true, "too short to judge (fewer than 6 samples after warm-up); counted as flat"
	}
	half := len(rest) / 2
	a, b := values(rest[:half], value), values(rest[half:], value)
	pick := func(v []int64) int64 {
		slices.Sort(v)
		if useMedian {
			return v[len(v)/2]
		}
		return v[len(v)-1]
	}
	x, y := pick(a), pick(b)
	limit := int64(float64(x)*(1+relSlack)) + absSlack
	what := "max"
	if useMedian {
		what = "median"
	}
	return y <= limit, fmt.Sprintf("%s of the later half %d vs the earlier half %d (limit %d)", what, y, x, limit)
}

func values(list []sample, value func(sample) int64) []int64 {
	out := make([]int64, len(list))
	for i, s := range list {
		out[i] = value(s)
	}
	return out
}

// slopeMiBPerMin is the least-squares slope of RSS after warm-up, for
// information: a steady leak shows as a positive slope the halves test
// might call within slack on a short run.
func slopeMiBPerMin(list []sample) float64 {
	rest := list[len(list)/5:]
	if len(rest) < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for _, s := range rest {
		x, y := s.at.Minutes(), float64(s.rssKiB)/1024
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	n := float64(len(rest))
	den := n*sxx - sx*sx
	if den == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / den
}

type seriesSummary struct{ first, min, max, last int64 }

func summarize(list []sample, value func(sample) int64) seriesSummary {
	if len(list) == 0 {
		return seriesSummary{}
	}
	s := seriesSummary{first: value(list[0]), min: value(list[0]), max: value(list[0]), last: value(list[len(list)-1])}
	for _, x := range list {
		s.min, s.max = min(s.min, value(x)), max(s.max, value(x))
	}
	return s
}

// printSummary writes the final verdict and returns whether the soak passed
// (no good request lost).
func printSummary(w io.Writer, elapsed time.Duration, c *counters, vs *versions, redisRestarts int, redisNote string, list []sample) bool {
	lost := c.goodLost.Load()
	fmt.Fprintf(w, "\n== soak summary after %s\n", elapsed.Round(time.Second))
	fmt.Fprintf(w, "good requests: sent %d, answered 200 with a valid body %d, LOST %d (must be 0)\n",
		c.goodSent.Load(), c.goodOK.Load(), lost)
	c.mu.Lock()
	if lost > 0 {
		fmt.Fprintf(w, "  lost by reason: %s\n", fmtCounts(c.lostBy))
		for _, e := range c.lostExamples {
			fmt.Fprintf(w, "  e.g. %s\n", truncate(e, 400))
		}
	}
	fmt.Fprintf(w, "  answered with the session-down fallback (valid, by design): %d; session counter anomalies (not lost): %d\n",
		c.sessionDown.Load(), c.countAnomalies.Load())
	fmt.Fprintf(w, "failing scripts (expected 500): %s; other than 500: %d\n", fmtCounts(c.broken), c.brokenOdd)
	names := make([]string, 0, len(c.bombs))
	for k := range c.bombs {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		fmt.Fprintf(w, "bomb %s: %s\n", k, fmtCounts(c.bombs[k]))
	}
	c.mu.Unlock()
	swaps, swapFails, lag := vs.stats()
	fmt.Fprintf(w, "hot swaps: %d (write errors %d); longest write-to-first-answer lag %s\n", swaps, swapFails, lag.Round(time.Millisecond))
	fmt.Fprintf(w, "redis restarts: %d%s\n", redisRestarts, redisNote)

	rss := summarize(list, func(s sample) int64 { return s.rssKiB })
	thr := summarize(list, func(s sample) int64 { return s.threads })
	fds := summarize(list, func(s sample) int64 { return int64(s.fds) })
	fmt.Fprintf(w, "server RSS: first %s, min %s, max %s, last %s (%d samples, 1 s apart); slope after warm-up %+.2f MiB/min\n",
		mib(rss.first), mib(rss.min), mib(rss.max), mib(rss.last), len(list), slopeMiBPerMin(list))
	fmt.Fprintf(w, "server threads: first %d, min %d, max %d, last %d; open fds: first %d, min %d, max %d, last %d\n",
		thr.first, thr.min, thr.max, thr.last, fds.first, fds.min, fds.max, fds.last)
	ok, how := flatness(list, func(s sample) int64 { return s.rssKiB }, true, 0.10, 16<<10)
	fmt.Fprintf(w, "RSS flat: %s (KiB: %s)\n", yesNo(ok), how)
	ok, how = flatness(list, func(s sample) int64 { return s.threads }, false, 0, 2)
	fmt.Fprintf(w, "threads flat: %s (%s)\n", yesNo(ok), how)
	ok, how = flatness(list, func(s sample) int64 { return int64(s.fds) }, false, 0, 8)
	fmt.Fprintf(w, "fds flat: %s (%s)\n", yesNo(ok), how)
	fmt.Fprintln(w, "goroutines: not measured; the server has no metrics endpoint yet, so OS threads from /proc/PID/status stand in")
	return lost == 0
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
