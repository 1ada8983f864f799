#!/usr/bin/env bash
# Runs every bench/*.sh benchmark (or those named) and prints their
# results; each script prints a markdown section for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh

scripts=("$@")
if [ ${#scripts[@]} -eq 0 ]; then
    scripts=($(ls bench/*.sh | grep -v -e '/lib.sh$' -e '/run.sh$'))
fi

mkdir -p build/bench
echo "Machine: $(bench_machine)"
for s in "${scripts[@]}"; do
    echo
    echo "== $s" >&2
    bash "$s" | tee "build/bench/$(basename "$s" .sh).md"
done
