#!/usr/bin/env bash
# Gateway benchmarks (issue 3): throughput of the module vs stock nginx with
# the same backends as static server lines, 2 000 members vs 2, the
# propagation delay of a membership change, shared memory per member and a
# 10 000-member pool.  Prints a markdown section for docs/benchmarks.md.
# bench-section: gateway
#
#   bench/gateway.sh              (ROUNDS=5 SECS=5 CONNS=32 by default)
#
# Everything runs on this machine on 127.0.0.1: one backend nginx (1
# worker, "return 200"), the gateway under test (1 worker, keepalive to the
# backends), wrk with 1 thread.  Configurations run alternately, ROUNDS
# times each; medians are reported.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/bench.sh

ROUNDS=${ROUNDS:-5}
SECS=${SECS:-5}
CONNS=${CONNS:-32}
CHANGES=${CHANGES:-200}
MODULE=$PWD/build/ngx_http_scaleset_module.so

make -s module >&2

bench_setup

B1=$(bench_free_port); B2=$(bench_free_port); REDIS=$(bench_free_port)
G_STOCK=$(bench_free_port); G_STOCK2K=$(bench_free_port)
G_MOD=$(bench_free_port); G_MOD2K=$(bench_free_port); G_MOD10K=$(bench_free_port)
G_PROP=$(bench_free_port)


# gateways get CPU 1 to themselves; backend, redis and wrk share CPU 0,
# so the gateway's own cost is what differs between configurations
declare -A CPU_MASK=([stock]=10 [stock2k]=10 [mod]=10 [mod2k]=10 [mod10k]=10
                     [prop]=10 [backend]=01)

# nginx NAME PORT HTTP-TEXT [load-module]
start_nginx() { bench_nginx "$1" "$2" "${CPU_MASK[$1]:-01}" "$3" "${4:-}"; }

proxy_server() {
    cat <<EOF
    server {
        listen 127.0.0.1:$1;
        location / {
            proxy_pass http://$2;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
EOF
}

start_nginx backend "$B1" "
    server { listen 127.0.0.1:$B1; location / { return 200 \"b1\n\"; }
             location = /status { stub_status; } }
    server { listen 127.0.0.1:$B2; location / { return 200 \"b2\n\"; } }"

taskset -c 0 redis-server --bind 127.0.0.1 --port "$REDIS" --save "" --appendonly no \
    --dir "$DIR" --logfile "$DIR/redis.log" &
PIDS+=($!)
disown
bench_wait_port "$REDIS"

# members: N ids over the two backend addresses (same backends behind them)
members() { bench_members "$REDIS" "$1" "$2" "127.0.0.1:$B1" "127.0.0.1:$B2"; }

members p2 2
members p2k 2000
members p10k 10000

servers2k=$(for i in $(seq 1 2000); do
    echo "        server 127.0.0.1:$([ $((i % 2)) = 1 ] && echo "$B1" || echo "$B2");"
done)

start_nginx stock "$G_STOCK" "
    upstream u { server 127.0.0.1:$B1; server 127.0.0.1:$B2; keepalive 32; }
$(proxy_server "$G_STOCK" u)"

start_nginx stock2k "$G_STOCK2K" "
    upstream u {
$servers2k
        keepalive 32;
    }
$(proxy_server "$G_STOCK2K" u)"

start_nginx mod "$G_MOD" "
    scaleset_redis 127.0.0.1:$REDIS;
    upstream u { scaleset p2; keepalive 32; }
$(proxy_server "$G_MOD" u)" load

start_nginx mod2k "$G_MOD2K" "
    scaleset_redis 127.0.0.1:$REDIS;
    upstream u { scaleset p2k max_members=2048; keepalive 32; }
$(proxy_server "$G_MOD2K" u)" load

start_nginx mod10k "$G_MOD10K" "
    scaleset_redis 127.0.0.1:$REDIS;
    upstream u { scaleset p10k max_members=10000; keepalive 32; }
$(proxy_server "$G_MOD10K" u)" load

# every gateway serves before measuring
for p in "$G_STOCK" "$G_STOCK2K" "$G_MOD" "$G_MOD2K" "$G_MOD10K"; do
    for _ in $(seq 1 200); do
        curl -fs "http://127.0.0.1:$p/" >/dev/null && break
        sleep 0.05
    done
done

declare -A RPS
for round in $(seq 1 "$ROUNDS"); do
    # rotate the order every round: no configuration always follows the same
    cfgs=(stock mod stock2k mod2k)
    k=$(( (round - 1) % 4 ))
    for cfg in "${cfgs[@]:$k}" "${cfgs[@]:0:$k}"; do
        case $cfg in
            stock) p=$G_STOCK ;; mod) p=$G_MOD ;;
            stock2k) p=$G_STOCK2K ;; mod2k) p=$G_MOD2K ;;
        esac
        a0=$(curl -s "http://127.0.0.1:$B1/status" | awk 'NR==3 {print $1}')
        v=$(taskset -c 0 bash -c ". bench/lib/bench.sh; bench_wrk http://127.0.0.1:$p/ $SECS $CONNS 1")
        a1=$(curl -s "http://127.0.0.1:$B1/status" | awk 'NR==3 {print $1}')
        echo "round $round $cfg backend accepts $((a1 - a0))" >&2
        RPS[$cfg]="${RPS[$cfg]:-} $v"
        echo "round $round $cfg $v" >&2
    done
done

med() { bench_median ${RPS[$1]}; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

m_stock=$(med stock); m_mod=$(med mod)
m_stock2k=$(med stock2k); m_mod2k=$(med mod2k)

# 10 000 members: served, and how the zone was sized
ok10k=0
for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$G_MOD10K/" >/dev/null && ok10k=$((ok10k + 1))
done
zone10k=$(grep -o 'pool "p10k": zone of [^,]*, [^,]*, [0-9]* bytes per member' \
          "$DIR/mod10k/error.log" | head -1 || true)
applied10k=$(grep -o 'pool "p10k" epoch [0-9]* from redis: [0-9]* members' \
             "$DIR/mod10k/error.log" | head -1 || true)

# propagation: Redis transaction -> first request routed to the new member
start_nginx prop "$G_PROP" "
    scaleset_redis 127.0.0.1:$REDIS;
    upstream u { scaleset prop; }
$(proxy_server "$G_PROP" u)" load
prop=$(perl bench/lib/gateway-propagation.pl "$REDIS" "$G_PROP" "$B1" "$B2" "$CHANGES")

cat <<EOF
### Gateway (bench/gateway.sh)

Machine: $(bench_machine).
One backend nginx (1 worker, \`return 200\`), gateway nginx with 1 worker
and \`keepalive 32\` to the backends, \`wrk -t1 -c$CONNS -d${SECS}s\`;
the gateway worker pinned to CPU 1, backend, Redis and wrk to CPU 0,
configurations run alternately (the order rotated every round), $ROUNDS
rounds; medians of requests/s.
The 2 000 members (and stock nginx's 2 000 \`server\` lines) point at the
same two backend addresses as the 2-member case.

| configuration | requests/s (median) | all runs |
|---|---|---|
| stock nginx, 2 \`server\` lines | $m_stock | ${RPS[stock]} |
| module, 2 members | $m_mod | ${RPS[mod]} |
| stock nginx, 2 000 \`server\` lines | $m_stock2k | ${RPS[stock2k]} |
| module, 2 000 members | $m_mod2k | ${RPS[mod2k]} |

- requests/s ratios, the noisy figure (±10 % between runs on this shared
  VM; the instruction counts of bench/gateway-ipr.pl are the exact one):
- module / stock nginx (2 members): **$(ratio "$m_mod" "$m_stock")** (target >= 0.98)
- module 2 000 / 2 members: **$(ratio "$m_mod2k" "$m_mod")** (target >= 0.95);
  stock nginx 2 000 / 2 servers for comparison: $(ratio "$m_stock2k" "$m_stock")
- propagation, Redis transaction (EXEC of HSET+INCR+PUBLISH) to the first
  request answered by the new member, $CHANGES changes, probe loop of
  single requests: $prop (target p99 <= 10 ms)
- shared memory: $zone10k
- 10 000 members in one pool: $applied10k; $ok10k/100 requests answered 200

Command: \`ROUNDS=$ROUNDS SECS=$SECS CONNS=$CONNS bench/gateway.sh\`
EOF
