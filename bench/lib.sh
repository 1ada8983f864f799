# Helpers for bench/*.sh scripts (sourced).  Benchmarks report medians of
# repeated runs and ratios measured side by side in the same run.

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
