#!/usr/bin/env bash
# make bench: runs every benchmark (or those named) and writes their
# results into docs/benchmarks.md.
#
#   bench/run.sh [bench/NAME.sh|bench/NAME.pl ...]
#
# A benchmark is a script in bench/ with a line "# bench-section: NAME".
# It prints a markdown section (machine, command line, medians of repeated
# runs, ratios measured side by side) on stdout; run.sh keeps it in
# build/bench/NAME.md and puts it in docs/benchmarks.md between
# "<!-- bench:NAME -->" and "<!-- /bench:NAME -->", leaving the prose
# around it alone.  A script that exits 77 was skipped (it says why on
# stderr; e.g. the real-VM ones without root): its section keeps the last
# results.  A failed script keeps them too and makes run.sh exit 1.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib/bench.sh

DOC=docs/benchmarks.md
scripts=("$@")
if [ ${#scripts[@]} -eq 0 ]; then
    mapfile -t scripts < <(grep -l '^# bench-section: ' bench/*.sh bench/*.pl)
fi

mkdir -p build/bench
machine=$(bench_machine)
echo "Machine: $machine" >&2
failed=()
for s in "${scripts[@]}"; do
    name=$(sed -n 's/^# bench-section: \([a-z0-9-]*\).*/\1/p' "$s" | head -1)
    if [ -z "$name" ]; then
        echo "bench: $s has no '# bench-section: NAME' line" >&2
        failed+=("$s")
        continue
    fi
    echo "== $s ($name)" >&2
    start=$(date +%s)
    rc=0
    case "$s" in
        *.pl) perl "$s" > "build/bench/$name.md" || rc=$? ;;
        *)    bash "$s" > "build/bench/$name.md" || rc=$? ;;
    esac
    echo "   $(( $(date +%s) - start )) s, exit $rc" >&2
    case $rc in
        0)  cat "build/bench/$name.md"
            perl bench/lib/splice.pl "$DOC" "$name" "build/bench/$name.md" ;;
        77) echo "   skipped: $DOC keeps the last results of $name" >&2 ;;
        *)  echo "   FAILED: $DOC keeps the last results of $name" >&2
            failed+=("$s") ;;
    esac
done
printf 'Machine: %s\n' "$machine" > build/bench/machine.md
perl bench/lib/splice.pl "$DOC" machine build/bench/machine.md
if [ ${#failed[@]} -gt 0 ]; then
    echo "bench: failed: ${failed[*]}" >&2
    exit 1
fi
echo "bench: results written to $DOC" >&2
