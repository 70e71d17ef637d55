#!/usr/bin/env bash
# Scheduler latency under load: how long the server's runnable goroutines
# waited for a thread, from the Go runtime's own histogram
# (go_sched_latencies_seconds on dialua's /metrics), next to wrk's
# requests/s and latencies: the method behind the tail-latency finding in
# benchmarks/README.md ("2026-12-04: the tail was a hand-off").
#
# For each round and each binary in BINS, in turn: start `dialua serve`
# with --metrics on 127.0.0.1, warm up, read the histogram, run wrk, read it
# again, stop the server. The difference between the two readings is the
# waits of the measured window only. A binary older than the histogram
# (before commit c72ab6b) prints "n/a" for the wait columns.
#
# Usage: BINS="/tmp/dialua-a /tmp/dialua-b" bash benchmarks/schedlat.sh
# Settings (environment): BINS (dialua binaries; default: build ./cmd/dialua),
#   SCRIPT (support or minimal, as in compare.sh), DURATION (6s),
#   WARMUP (1s), CONNECTIONS (64), THREADS (2), ROUNDS (3), PORT (18093),
#   METRICS_PORT (18094).
# Needs: go, wrk, curl.
set -euo pipefail

DURATION=${DURATION:-6s}
WARMUP=${WARMUP:-1s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-18093}
METRICS_PORT=${METRICS_PORT:-18094}

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=benchmarks/common.sh
. "$root/benchmarks/common.sh"
tmp=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

for tool in go wrk curl; do
  command -v "$tool" >/dev/null || { echo "schedlat.sh: $tool is not installed" >&2; exit 2; }
done

bench_script "${SCRIPT:-support}" "$tmp"
url="http://127.0.0.1:$PORT$path?$query"

bins=$(dialua_bin "${BINS:-}" "$tmp")
for bin in $bins; do
  [ -x "$bin" ] || { echo "schedlat.sh: $bin is not an executable file" >&2; exit 2; }
done

# buckets -> "le count" lines of the scheduler-latency histogram (cumulative).
buckets() {
  curl -fs "http://127.0.0.1:$METRICS_PORT/metrics" |
    awk -F'[{}" ]+' '/^go_sched_latencies_seconds_bucket\{/ {print $3, $NF}'
}

# share BEFORE AFTER LIMIT -> the percentage of the window's waits longer
# than the largest bucket bound at or under LIMIT seconds, and that bound.
share() {
  awk -v lim="$3" '
    FNR == NR { b[$1] = $2; next }
    { d[$1] = $2 - b[$1]; if ($1 == "+Inf") total = d[$1]; else if ($1 + 0 <= lim + 0 && $1 + 0 > best + 0) best = $1 }
    END {
      if (total <= 0 || best == "") { print "n/a"; exit }
      printf "%.1f%% >%.2fms", 100 * (total - d[best]) / total, best * 1000
    }' "$1" "$2"
}

printf "%-28s %-5s %10s %8s %8s %8s  %-18s %s\n" binary round req/s p50 p90 p99 "waits >~1 ms" "waits >~10 ms"
for r in $(seq 1 "$ROUNDS"); do
  for bin in $bins; do
    (cd "$root" && exec "$bin" serve --listen "127.0.0.1:$PORT" --metrics "127.0.0.1:$METRICS_PORT" \
      --scripts "$scripts" --log-level warn) &
    server=$!
    wait_up "$url" || { echo "schedlat.sh: $bin did not come up" >&2; exit 1; }
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$url" >/dev/null
    buckets > "$tmp/before"
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url")
    buckets > "$tmp/after"
    kill "$server"; wait "$server" 2>/dev/null || true; server=
    if echo "$out" | grep -q "Non-2xx"; then echo "schedlat.sh: $bin answered non-2xx" >&2; echo "$out" >&2; exit 1; fi
    read -r rps p50 p90 p99 < <(wrk_figures "$out")
    printf "%-28s %-5s %10s %8s %8s %8s  %-18s %s\n" "$(basename "$bin")" "$r" "$rps" "$p50" "$p90" "$p99" \
      "$(share "$tmp/before" "$tmp/after" 0.001)" "$(share "$tmp/before" "$tmp/after" 0.011)"
  done
done
