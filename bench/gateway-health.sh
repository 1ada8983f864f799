#!/usr/bin/env bash
# Health check benchmarks (issue 4): throughput with checks on vs off, the
# workers' CPU for checking 1 000 members every second, and the time from a
# backend's death to the last request routed to it (active checks only, and
# with passive accounting too).  Prints a markdown section.
# bench-section: gateway-health
#
#   bench/gateway-health.sh        (ROUNDS=5 SECS=5 CONNS=32 DEATHS=5)
#
# All on 127.0.0.1: a backend nginx (1 worker, "return 200"), the gateways
# under test (1 worker each, on CPU 1), redis and wrk on CPU 0.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/bench.sh

ROUNDS=${ROUNDS:-5}
SECS=${SECS:-5}
CONNS=${CONNS:-32}
DEATHS=${DEATHS:-5}
CPU_SECS=${CPU_SECS:-10}
MODULE=$PWD/build/ngx_http_scaleset_module.so

make -s module >&2

bench_setup


# nginx NAME PORT CPU HTTP-TEXT [load-module]
start_nginx() { bench_nginx "$@"; }

proxy_server() {
    cat <<EOF
    server {
        listen 127.0.0.1:$1;
        location / {
            proxy_pass http://$2;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream error timeout;
            proxy_connect_timeout 1s;
            add_header X-Upstream \$upstream_addr always;
        }
    }
EOF
}

# the worker of an nginx started here: its pid from the master's children
worker_of() {
    local master
    master=$(cat "$DIR/$1/nginx.pid")
    pgrep -P "$master" | head -1
}

# CPU seconds (user + system) a process used so far
cpu_of() {
    awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' \
        "/proc/$1/stat"
}

B1=$(bench_free_port); B2=$(bench_free_port); REDIS=$(bench_free_port)
G_OFF=$(bench_free_port); G_ON=$(bench_free_port)
G_1K=$(bench_free_port); G_1K0=$(bench_free_port)

start_nginx backend "$B1" 01 "
    server { listen 127.0.0.1:$B1; location / { return 200 \"b1\n\"; } }
    server { listen 127.0.0.1:$B2; location / { return 200 \"b2\n\"; } }"

taskset -c 0 redis-server --bind 127.0.0.1 --port "$REDIS" --save "" \
    --appendonly no --dir "$DIR" --logfile "$DIR/redis.log" &
PIDS+=($!)
disown
bench_wait_port "$REDIS"

# POOL N ADDR... : N members spread over the addresses
members() { bench_members "$REDIS" "$@"; }

members off 2 "127.0.0.1:$B1" "127.0.0.1:$B2"
members on 2 "127.0.0.1:$B1" "127.0.0.1:$B2"
members k1 1000 "127.0.0.1:$B1" "127.0.0.1:$B2"
members k0 1000 "127.0.0.1:$B1" "127.0.0.1:$B2"

start_nginx off "$G_OFF" 10 "
    scaleset_redis 127.0.0.1:$REDIS;
    upstream u { scaleset off; keepalive 32; }
$(proxy_server "$G_OFF" u)" load

start_nginx on "$G_ON" 10 "
    scaleset_redis 127.0.0.1:$REDIS;
    upstream u { scaleset on; scaleset_health_check uri=/ interval=1s timeout=500ms; keepalive 32; }
$(proxy_server "$G_ON" u)" load

start_nginx k1 "$G_1K" 10 "
    scaleset_redis 127.0.0.1:$REDIS;
    upstream u { scaleset k1 max_members=1024;
                 scaleset_health_check uri=/ interval=1s timeout=500ms jitter=200ms; }
$(proxy_server "$G_1K" u)" load

start_nginx k0 "$G_1K0" 10 "
    scaleset_redis 127.0.0.1:$REDIS;
    upstream u { scaleset k0 max_members=1024; }
$(proxy_server "$G_1K0" u)" load

for p in "$G_OFF" "$G_ON" "$G_1K" "$G_1K0"; do
    for _ in $(seq 1 200); do
        curl -fs "http://127.0.0.1:$p/" >/dev/null && break
        sleep 0.05
    done
done

# --- throughput, checks on vs off, alternately ---------------------------

declare -A RPS
for round in $(seq 1 "$ROUNDS"); do
    for cfg in off on; do
        p=$([ $cfg = off ] && echo "$G_OFF" || echo "$G_ON")
        v=$(taskset -c 0 bash -c ". bench/lib/bench.sh; bench_wrk http://127.0.0.1:$p/ $SECS $CONNS 1")
        RPS[$cfg]="${RPS[$cfg]:-} $v"
        echo "round $round $cfg $v" >&2
    done
done

m_off=$(bench_median ${RPS[off]})
m_on=$(bench_median ${RPS[on]})
ratio=$(awk -v a="$m_on" -v b="$m_off" 'BEGIN { printf "%.3f", a / b }')

# --- CPU of checking 1 000 members every second ---------------------------

sleep 3    # the first round of checks is done
w1=$(worker_of k1); w0=$(worker_of k0)
c1=$(cpu_of "$w1"); c0=$(cpu_of "$w0")
sleep "$CPU_SECS"
c1b=$(cpu_of "$w1"); c0b=$(cpu_of "$w0")
cpu1=$(awk -v a="$c1" -v b="$c1b" -v s="$CPU_SECS" 'BEGIN { printf "%.1f", 100 * (b - a) / s }')
cpu0=$(awk -v a="$c0" -v b="$c0b" -v s="$CPU_SECS" 'BEGIN { printf "%.1f", 100 * (b - a) / s }')

# --- death to last request ----------------------------------------------

death_run() {
    # MODE: active (max_fails=0) or passive (max_fails=1 too)
    local mode=$1 i=$2 vport gport extra
    vport=$(bench_free_port); gport=$(bench_free_port)
    extra=""; [ "$mode" = active ] && extra=" max_fails=0"

    start_nginx "victim-$mode-$i" "$vport" 01 "
    server { listen 127.0.0.1:$vport; location / { return 200 \"v\n\"; } }"

    members "d$mode$i" 2 "127.0.0.1:$vport$extra" "127.0.0.1:$B1$extra"

    start_nginx "g-$mode-$i" "$gport" 10 "
    scaleset_redis 127.0.0.1:$REDIS;
    upstream u { scaleset d$mode$i;
                 scaleset_health_check uri=/ interval=500ms timeout=250ms fails=1 passes=1; }
$(proxy_server "$gport" u)" load

    perl bench/lib/gateway-death.pl "$gport" "$vport" "$DIR/victim-$mode-$i/nginx.pid"
}

declare -A DEATH
for mode in active passive; do
    for i in $(seq 1 "$DEATHS"); do
        v=$(death_run "$mode" "$i")
        DEATH[$mode]="${DEATH[$mode]:-} $v"
        echo "death $mode $i $v ms" >&2
    done
done

d_active=$(bench_median ${DEATH[active]})
d_passive=$(bench_median ${DEATH[passive]})

cat <<EOF
### Health checks (bench/gateway-health.sh)

Machine: $(bench_machine).
Gateways: 1 worker on CPU 1, keepalive to one backend nginx; wrk (1 thread,
$CONNS connections, ${SECS}s) and redis on CPU 0. Medians of $ROUNDS
alternating rounds.

| measure | result |
|---|---|
| requests/s, 2 members, no checks | $m_off |
| requests/s, 2 members, \`scaleset_health_check interval=1s\` | $m_on |
| **ratio checks on / off** (target ≥ 0.98) | **$ratio** |
| worker CPU, 1 000 members checked every 1 s (1 000 checks/s) | ${cpu1} % of a core |
| worker CPU, the same 1 000 members without checks | ${cpu0} % of a core |
| backend death → last request routed to it, active checks only (interval 500ms, timeout 250ms, fails 1), median of $DEATHS | $d_active ms |
| the same with passive accounting (max_fails=1) as well, median of $DEATHS | $d_passive ms |

"Routed to it" counts every attempt, including those \`proxy_next_upstream\`
retried on the other member ( \`\$upstream_addr\` names the dead address);
no client request failed in these runs unless noted by the script.
EOF
