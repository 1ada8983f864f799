#!/bin/sh
# Runs libFuzzer targets one after the other: tools/fuzz.sh DIR SECONDS NAME...
# DIR holds the binaries (DIR/fuzz_NAME).  Each starts from the seeds in
# fuzz/corpus/NAME and what earlier runs kept in DIR/corpus/NAME (new
# inputs go there, never into the repo), with fuzz/dict/NAME.dict when
# present, for SECONDS.  A crash, leak, timeout or failed property is saved
# as DIR/artifacts/NAME-crash-... and makes the script exit 1 after the
# other targets ran.  Run from the repo root: the config target's seeds
# name files under fuzz/data/ by relative path.
# FUZZ_TIMEOUT: seconds one input may take (25); FUZZ_NICE: nice level (0).

set -u

dir=$1
secs=$2
shift 2

timeout=${FUZZ_TIMEOUT:-25}
nice=${FUZZ_NICE:-0}
failed=""

mkdir -p "$dir/artifacts"

for name in "$@"; do
    bin="$dir/fuzz_$name"
    log="$dir/$name.log"
    mkdir -p "$dir/corpus/$name"
    dict=""
    if [ -f "fuzz/dict/$name.dict" ]; then
        dict="-dict=fuzz/dict/$name.dict"
    fi

    echo "fuzz: $name for $secs s"
    if ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:${ASAN_OPTIONS:-} \
       UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-} \
       nice -n "$nice" "$bin" -max_total_time="$secs" -timeout="$timeout" \
           -print_final_stats=1 -artifact_prefix="$dir/artifacts/$name-" \
           $dict "$dir/corpus/$name" "fuzz/corpus/$name" > "$log" 2>&1
    then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
        echo "fuzz: $name ok: $runs runs, $rate exec/s, $cov"
    else
        tail -n 40 "$log"
        echo "fuzz: $name FAILED (log: $log; input: $dir/artifacts/$name-*)"
        failed="$failed $name"
    fi
done

if [ -n "$failed" ]; then
    echo "fuzz: failed:$failed"
    exit 1
fi
