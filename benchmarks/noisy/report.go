package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"
)

// phaseResult is one row of the report.
type phaseResult struct {
	label    string
	dur      time.Duration // the measured window
	calm     *loadResult
	attacker *loadResult // nil for the baseline
	// attackerDur is the attacker's window: the calm one plus its head start.
	attackerDur time.Duration
	rssKiB      int64 // server RSS right after the window
	logLines    int64 // server log lines written during the window
	serverDied  bool
}

func (p *phaseResult) calmRate() float64 {
	return float64(p.calm.completed()) / p.dur.Seconds()
}

func (p *phaseResult) attackerRate() float64 {
	return float64(p.attacker.completed()) / p.attackerDur.Seconds()
}

// percentile of the ok requests' latencies; 0 when there were none.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return sorted[i]
}

func fmtLatency(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	if d < time.Millisecond {
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	}
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// fmtStatuses lists status counts, most frequent first: "500: 31, 503: 2".
func fmtStatuses(m map[string]int64) string {
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

func ratio(v, base float64) string {
	if base == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v/base)
}

// printReport writes the markdown tables. Ratios are against the row
// labelled baseline when there is one: calm req/s over baseline req/s (1.00:
// the attack cost the calm tenant nothing; lower is worse) and p99 over
// baseline p99 (higher is worse).
func printReport(w io.Writer, rows []*phaseResult, baseline *phaseResult) {
	var baseRate, baseP99 float64
	if baseline != nil {
		baseRate = baseline.calmRate()
		s := slices.Clone(baseline.calm.latency)
		slices.Sort(s)
		baseP99 = float64(percentile(s, 0.99))
	}
	fmt.Fprintln(w, "| the other tenant runs | calm req/s | p50 | p99 | failures | attacker req/s (statuses) | calm req/s vs baseline | p99 vs baseline |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range rows {
		lat := slices.Clone(r.calm.latency)
		slices.Sort(lat)
		p50, p99 := percentile(lat, 0.50), percentile(lat, 0.99)
		fails := fmt.Sprintf("%d (%.2f%%)", r.calm.failed, pct(r.calm.failed, r.calm.completed()))
		att := "-"
		if r.attacker != nil {
			att = fmt.Sprintf("%.0f (%s)", r.attackerRate(), fmtStatuses(r.attacker.statuses))
		}
		label := r.label
		if r.serverDied {
			label += " **(server died)**"
		}
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %s | %s | %s | %s |\n", label, r.calmRate(),
			fmtLatency(p50), fmtLatency(p99), fails, att, ratio(r.calmRate(), baseRate), ratio(float64(p99), baseP99))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Details (calm statuses include failures by kind; cut = in flight when the window closed, not counted):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| the other tenant runs | calm statuses | calm cut | attacker cut | server RSS after | server log lines |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- |")
	for _, r := range rows {
		attCut := "-"
		if r.attacker != nil {
			attCut = fmt.Sprint(r.attacker.cut)
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s | %.1f MiB | %d |\n", r.label, fmtStatuses(r.calm.statuses),
			r.calm.cut, attCut, float64(r.rssKiB)/1024, r.logLines)
	}
}

func pct(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}
