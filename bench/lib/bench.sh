# Helpers for bench/*.sh scripts (sourced, from the top of the tree:
# . bench/lib/bench.sh).  Benchmarks report medians of repeated runs and
# ratios measured side by side in the same run.

# a free TCP port on 127.0.0.1
bench_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# median of the numbers given as arguments
bench_median() {
    printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {
        if (NR == 0) { print "nan"; exit }
        if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'
}

# requests per second of one wrk run: bench_wrk URL SECONDS CONNS THREADS
bench_wrk() {
    wrk -t"${4:-1}" -c"${3:-32}" -d"${2:-5}s" --latency "$1" 2>/dev/null \
        | awk '/^Requests\/sec:/ {print $2}'
}

# wait until 127.0.0.1:PORT accepts connections (at most ~10 s)
bench_wait_port() {
    for _ in $(seq 1 500); do
        (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
        sleep 0.02
    done
    echo "bench: nothing listens on port $1" >&2
    return 1
}

# the machine line for a results section
bench_machine() {
    echo "$(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB," \
         "$(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r)," \
         "nginx $(nginx -v 2>&1 | sed 's/.*\///'), $(date -u +%Y-%m-%d)"
}

# Starts an nginx of one worker in the background, logs under $DIR/NAME,
# its pid appended to the PIDS array:
#   bench_nginx NAME PORT CPU-MASK HTTP-TEXT [load]
# with "load" the module ($MODULE) is loaded.  Its nginx.conf is the tests'
# (bench/lib/nginx-conf.pl).  Waits until PORT listens.
bench_nginx() {
    local name=$1 port=$2 mask=$3 http=$4 load=${5:-}
    mkdir -p "$DIR/$name"
    printf '%s\n' "$http" | perl bench/lib/nginx-conf.pl --dir "$DIR/$name" \
        ${load:+--module "$MODULE"} --workers 1 --log-level notice \
        --main "worker_cpu_affinity $mask;" \
        --events "worker_connections 4096;" > "$DIR/$name/nginx.conf" \
        || return 1
    # not on our stdout: a $(...) around a caller would wait for nginx
    nginx -p "$DIR/$name/" -c "$DIR/$name/nginx.conf" \
        -e "$DIR/$name/error.log" > "$DIR/$name/out.log" 2>&1 &
    PIDS+=($!)
    disown
    bench_wait_port "$port"
}

# Writes N members of POOL into the redis on REDIS_PORT the way the scaler
# does (then INCR epoch, PUBLISH), spread over the given addresses:
#   bench_members REDIS_PORT POOL N ADDR...
bench_members() {
    perl -MRedis -e '
        my ($port, $pool, $n, @addr) = @ARGV;
        my $r = Redis->new(server => "127.0.0.1:$port");
        $r->del("scaleset:{$pool}:members");
        my @kv;
        for my $i (1 .. $n) {
            push @kv, sprintf("%s-%06d", $pool, $i), $addr[$i % @addr];
            if (@kv >= 1000) { $r->hset("scaleset:{$pool}:members", @kv); @kv = () }
        }
        $r->hset("scaleset:{$pool}:members", @kv) if @kv;
        my $e = $r->incr("scaleset:{$pool}:epoch");
        $r->publish("scaleset:{$pool}:events", $e);
    ' "$@"
}

# A temporary directory $DIR and the PIDS array, both cleaned up at exit:
# every pid in PIDS and every nginx with a pid file under $DIR (those
# started in subshells) is stopped, QUIT first, then KILL.
bench_setup() {
    DIR=$(mktemp -d /tmp/scaleset-bench-XXXXXX)
    PIDS=()
    trap bench_cleanup EXIT
}

bench_cleanup() {
    set +e
    local f p
    for f in "$DIR"/*/nginx.pid; do
        [ -f "$f" ] && PIDS+=("$(cat "$f")")
    done
    for p in "${PIDS[@]}"; do kill -QUIT "$p" 2>/dev/null; done
    sleep 0.5
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$DIR"
}
