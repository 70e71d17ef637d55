# Shared by compare.sh and schedlat.sh (sourced, not run): the benchmark
# scripts, waiting for a server and reading wrk's figures.

# bench_script NAME DIR: sets scripts, path and query for SCRIPT=NAME
# (support: demo/support from the repository; minimal: a one-line script
# written under DIR). An unknown name exits with 2.
bench_script() {
  case $1 in
  support)
    scripts=$root/scripts
    path=/demo/support
    query='subscription_code=934924&CallID=5205dc5cc5a411e5ab9eb3691b90ea15&CallerIDNum=0040741234567&CallStatus=ANSWER&CallFlow=IN'
    ;;
  minimal)
    scripts=$2/scripts
    path=/bench/minimal
    query='code=1&CallID=5205dc5cc5a411e5ab9eb3691b90ea15&CallStatus=ANSWER&CallFlow=IN'
    mkdir -p "$scripts/bench"
    echo 'if request.params.code == "1" then response:hangup() end' > "$scripts/bench/minimal.lua"
    ;;
  *) echo "$(basename "$0"): SCRIPT is support or minimal, not $1" >&2; exit 2 ;;
  esac
}

# wait_up URL: waits up to 10 s for URL to answer 2xx; returns 1 if it never did.
wait_up() {
  local i
  for i in $(seq 1 100); do
    curl -fs -o /dev/null "$1" && return 0
    sleep 0.1
  done
  return 1
}

# wrk_figures WRK-OUTPUT -> "rps p50 p90 p99" (wrk run with --latency).
wrk_figures() {
  echo "$1" | awk '/Requests\/sec/ {r = $2} $1 == "50%" {a = $2} $1 == "90%" {b = $2} $1 == "99%" {c = $2}
    END {print r, a, b, c}'
}

# dialua_bin GIVEN DIR -> GIVEN, or (when GIVEN is empty) a dialua built from
# this checkout into DIR.
dialua_bin() {
  if [ -n "$1" ]; then echo "$1"; return; fi
  echo "building ./cmd/dialua..." >&2
  (cd "$root" && go build -o "$2/dialua" ./cmd/dialua)
  echo "$2/dialua"
}
