#!/bin/sh
# Runs each libFuzzer harness given for SECONDS over a working copy of its seed corpus.
# Usage: run-fuzz.sh SECONDS build-fuzz/fuzz_NAME...
# New inputs go to build-fuzz/corpus-run/NAME (never into fuzz/corpus), crash inputs to
# build-fuzz/artifacts/NAME/, the full log to build-fuzz/logs/NAME.log. Prints one line per
# harness (executions, exec/s, coverage) and exits non-zero if any harness failed.
set -u

seconds=$1
shift
out=build-fuzz
status=0
mkdir -p "$out/corpus-run" "$out/artifacts" "$out/logs"

for bin in "$@"; do
    name=$(basename "$bin")
    run="$out/corpus-run/$name"
    mkdir -p "$run" "$out/artifacts/$name"
    [ -d "fuzz/corpus/$name" ] && cp -n "fuzz/corpus/$name"/* "$run"/ 2>/dev/null
    dict=""
    [ -f "fuzz/$name.dict" ] && dict="-dict=fuzz/$name.dict"
    log="$out/logs/$name.log"
    # shellcheck disable=SC2086 # $dict is empty or one word
    "$bin" -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix="$out/artifacts/$name/" $dict "$run" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | sed 's/cov: //')
    corp=$(find "$run" -type f | wc -l)
    if [ "$rc" -eq 0 ]; then
        echo "fuzz: $name: ${execs:-?} executions, ${rate:-?} exec/s, cov ${cov:-?}, corpus $corp: ok"
    else
        echo "fuzz: $name: FAILED (exit $rc) after ${execs:-?} executions; see $log and $out/artifacts/$name/"
        grep -E 'ERROR|invariant violated|runtime error|Test unit written' "$log" | head -n 5
        status=1
    fi
done
exit $status
