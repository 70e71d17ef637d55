#!/usr/bin/env bash
# Load test of `dialua serve` with wrk, on 127.0.0.1 only.
#
# Builds ./cmd/dialua into a temporary folder, starts it on the bundled
# scripts, waits for /healthz, checks one response, runs a short warm-up and
# then one measured wrk run against demo/support (the valid-subscription path),
# prints requests/s and latency percentiles, and stops the server on exit.
#
# Usage (from anywhere; the script runs from the repository root):
#   bash benchmarks/run.sh
#   DURATION=30s CONNECTIONS=128 THREADS=2 bash benchmarks/run.sh
#
# Settings (environment):
#   DURATION     measured run length, wrk syntax        (default 10s)
#   CONNECTIONS  open keep-alive connections            (default 64)
#   THREADS      wrk threads                            (default 2)
#   WARMUP       warm-up run length before measuring    (default 2s; 0 skips)
#   PORT         port on 127.0.0.1 for the server       (default 18089)
#
# Needs: go, wrk (Debian: apt-get install wrk), curl.
set -euo pipefail

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
WARMUP=${WARMUP:-2s}
PORT=${PORT:-18089}

HOST=127.0.0.1
BASE="http://$HOST:$PORT"
URL="$BASE/demo/support?subscription_code=934924&CallID=5205dc5cc5a411e5ab9eb3691b90ea15&CallerIDNum=0040741234567&CallStatus=ANSWER&CallFlow=IN"

cd "$(dirname "${BASH_SOURCE[0]}")/.."

for tool in go wrk curl; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		hint=
		[[ $tool == wrk ]] && hint=" (Debian: apt-get install wrk)"
		echo "run.sh: $tool not found$hint" >&2
		exit 1
	fi
done

if curl -s -o /dev/null --max-time 1 "$BASE/healthz"; then
	echo "run.sh: something already answers on $HOST:$PORT; set PORT" >&2
	exit 1
fi

tmp=$(mktemp -d)
server_pid=
cleanup() {
	if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
		kill "$server_pid" 2>/dev/null || true
		# SIGTERM drains requests in flight; give it a bounded time.
		for _ in $(seq 1 50); do
			kill -0 "$server_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$server_pid" 2>/dev/null || true
		wait "$server_pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== building ./cmd/dialua"
go build -o "$tmp/dialua" ./cmd/dialua

echo "== starting dialua serve on $HOST:$PORT"
"$tmp/dialua" serve --listen "$HOST:$PORT" --scripts ./scripts --log-level warn \
	2>"$tmp/server.log" &
server_pid=$!

ready=
for _ in $(seq 1 100); do # up to ~10s
	if ! kill -0 "$server_pid" 2>/dev/null; then
		echo "run.sh: server exited during start-up:" >&2
		cat "$tmp/server.log" >&2
		exit 1
	fi
	if curl -s -o /dev/null --max-time 1 "$BASE/healthz"; then
		ready=1
		break
	fi
	sleep 0.1
done
if [[ -z $ready ]]; then
	echo "run.sh: /healthz did not answer within 10s" >&2
	cat "$tmp/server.log" >&2
	exit 1
fi

# One checked request: the run is only worth measuring if it answers 200 with
# the gold queue.
body=$(curl -s --max-time 5 -w '\n%{http_code}' "$URL")
status=${body##*$'\n'}
if [[ $status != 200 || $body != *QueueGold* ]]; then
	echo "run.sh: unexpected response (status $status):" >&2
	echo "$body" >&2
	exit 1
fi

if [[ $WARMUP != 0 && $WARMUP != 0s ]]; then
	echo "== warm-up: $WARMUP"
	wrk -t "$THREADS" -c "$CONNECTIONS" -d "$WARMUP" "$URL" >/dev/null
fi

echo "== wrk -t $THREADS -c $CONNECTIONS -d $DURATION --latency"
echo "   $URL"
wrk -t "$THREADS" -c "$CONNECTIONS" -d "$DURATION" --latency "$URL" | tee "$tmp/wrk.out"

if [[ -s $tmp/server.log ]]; then
	echo "== server log (warnings and errors)"
	cat "$tmp/server.log"
fi

rps=$(awk '/^Requests\/sec:/ {print $2}' "$tmp/wrk.out")
pct() { awk -v p="$1" '$1 == p {print $2}' "$tmp/wrk.out"; }
errors=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$tmp/wrk.out")
sockerr=$(grep -E '^ +Socket errors:' "$tmp/wrk.out" || true)

echo
echo "== summary"
echo "requests/s: ${rps:-?}"
echo "latency p50: $(pct 50%)  p90: $(pct 90%)  p99: $(pct 99%)"
if [[ -n $errors ]]; then
	echo "non-2xx responses: $errors"
fi
if [[ -n $sockerr ]]; then
	echo "${sockerr# *}"
fi
if [[ -n $errors ]]; then
	exit 1
fi
