#!/usr/bin/env bash
# Side-by-side load test: dialua and nginx with its Lua module (the OpenResty
# model) serving the same script file, on 127.0.0.1 only: by default
# scripts/demo/support.lua; with SCRIPT=minimal a one-line script
# (`if request.params.code == "1" then response:hangup() end`), which
# measures each server's own cost per request.
#
# Builds ./cmd/dialua, starts it and nginx (through benchmarks/openresty/
# shim.lua, which gives nginx dialua's request/response/session surface),
# checks that both answer the benchmark request with the same XML, then runs
# wrk against each in turn, ROUNDS times, alternating, and prints every run
# and the medians, with the CPU time (user and system, from /proc) each
# server spent per request: a steadier figure than requests/s on a shared
# machine, and one that shows how much of a request is the kernel's.
#
# Usage: bash benchmarks/compare.sh
# Settings (environment): DURATION (10s), CONNECTIONS (64), THREADS (2),
#   ROUNDS (3), WORKERS (nginx worker processes; default: the CPU count, the
#   same cores dialua's Go scheduler uses), DIALUA_PORT (18091), NGINX_PORT (18092),
#   DIALUA_FLAGS (extra flags for dialua serve, e.g. "--gc-percent 400"),
#   SCRIPT (support or minimal), DIALUA_BIN (a dialua binary to measure
#   instead of building ./cmd/dialua, e.g. an older commit's).
# Needs: go, wrk, curl, nginx and libnginx-mod-http-lua (Debian:
#   apt-get install wrk nginx-light libnginx-mod-http-lua).
set -euo pipefail

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
ROUNDS=${ROUNDS:-3}
WORKERS=${WORKERS:-$(nproc)}
DIALUA_PORT=${DIALUA_PORT:-18091}
NGINX_PORT=${NGINX_PORT:-18092}

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=benchmarks/common.sh
. "$root/benchmarks/common.sh"
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

for tool in go wrk curl nginx; do
  command -v "$tool" >/dev/null || { echo "compare.sh: $tool is not installed" >&2; exit 2; }
done
[ -f /usr/lib/nginx/modules/ngx_http_lua_module.so ] || {
  echo "compare.sh: nginx's Lua module is missing (apt-get install libnginx-mod-http-lua)" >&2; exit 2; }

bench_script "${SCRIPT:-support}" "$tmp"
dialua_url="http://127.0.0.1:$DIALUA_PORT$path?$query"
nginx_url="http://127.0.0.1:$NGINX_PORT$path?$query"

bin=$(dialua_bin "${DIALUA_BIN:-}" "$tmp")
(cd "$root" && "$bin" serve --listen "127.0.0.1:$DIALUA_PORT" --scripts "$scripts" --log-level warn ${DIALUA_FLAGS:-}) &
pids+=($!)
sed -e "s|@ROOT@|$root|g" -e "s|@PORT@|$NGINX_PORT|g" -e "s|@WORKERS@|$WORKERS|g" -e "s|@TMP@|$tmp|g" \
    -e "s|@LOCATION@|$path|g" -e "s|@SCRIPT@|$scripts$path.lua|g" \
  "$root/benchmarks/openresty/nginx.conf.tmpl" > "$tmp/nginx.conf"
nginx -p "$tmp" -c "$tmp/nginx.conf" &
pids+=($!)

for url in "$dialua_url" "$nginx_url"; do
  wait_up "$url" || { echo "compare.sh: $url did not come up" >&2; cat "$tmp/error.log" >&2 || true; exit 1; }
done
a=$(curl -fs "$dialua_url"); b=$(curl -fs "$nginx_url")
if [ "$a" != "$b" ]; then
  echo "compare.sh: the two servers answer differently:" >&2
  echo "dialua: $a" >&2; echo "nginx:  $b" >&2
  exit 1
fi
echo "both answer: $(echo "$a" | tail -1)"

# ticks PID... -> "user system": CPU clock ticks the processes have used.
ticks() {
  local u=0 s=0 a b p
  for p in "$@"; do
    read -r a b < <(awk '{print $14, $15}' "/proc/$p/stat")
    u=$((u + a)); s=$((s + b))
  done
  echo "$u $s"
}
# The server was started in a subshell, which bash may or may not have
# replaced by dialua itself.
dialua_pids() { local c; c=$(pgrep -P "${pids[0]}" | tr '\n' ' '); echo "${c:-${pids[0]}}"; }
nginx_pids() { pgrep -P "$(cat "$tmp/nginx.pid")" | tr '\n' ' '; }

run() { # name url -> "rps p50 p90 p99 user-µs system-µs" (the server's CPU per request)
  local out procs u1 s1 u2 s2
  procs=$("${1}_pids")
  # shellcheck disable=SC2086
  read -r u1 s1 < <(ticks $procs)
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$2")
  # shellcheck disable=SC2086
  read -r u2 s2 < <(ticks $procs)
  if echo "$out" | grep -q "Non-2xx"; then echo "compare.sh: $1 answered non-2xx" >&2; echo "$out" >&2; exit 1; fi
  local rps p50 p90 p99 n hz
  read -r rps p50 p90 p99 < <(wrk_figures "$out")
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  hz=$(getconf CLK_TCK)
  awk -v r="$rps" -v a="$p50" -v b="$p90" -v c="$p99" -v n="$n" -v hz="$hz" -v u=$((u2 - u1)) -v s=$((s2 - s1)) \
    'BEGIN {printf "%s %s %s %s %.1f %.1f\n", r, a, b, c, u * 1e6 / hz / n, s * 1e6 / hz / n}'
}

wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "$dialua_url" >/dev/null
wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "$nginx_url" >/dev/null
: > "$tmp/results"
for r in $(seq 1 "$ROUNDS"); do
  for name in dialua nginx; do
    url=$dialua_url; [ "$name" = nginx ] && url=$nginx_url
    line=$(run "$name" "$url")
    echo "round $r $name: $line" | awk '{printf "round %s %-7s %10s req/s  p50 %-8s p90 %-8s p99 %-8s CPU/request: user %s µs, system %s µs\n", $2, $3, $4, $5, $6, $7, $8, $9}'
    echo "$name $line" >> "$tmp/results"
  done
done

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo
echo "medians over $ROUNDS rounds ($DURATION, $CONNECTIONS connections, $THREADS wrk threads, nginx workers: $WORKERS):"
for name in dialua nginx; do
  rps=$(awk -v n="$name" '$1 == n {print $2}' "$tmp/results" | median)
  u=$(awk -v n="$name" '$1 == n {print $6}' "$tmp/results" | median)
  s=$(awk -v n="$name" '$1 == n {print $7}' "$tmp/results" | median)
  echo "  $name: $rps req/s; the server's CPU per request: user $u µs, system $s µs"
done
d=$(awk '$1 == "dialua" {print $2}' "$tmp/results" | median)
n=$(awk '$1 == "nginx" {print $2}' "$tmp/results" | median)
awk -v d="$d" -v n="$n" 'BEGIN {printf "  ratio dialua/nginx: %.2f\n", d / n}'
