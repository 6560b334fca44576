#!/bin/sh
# Runs every unit-test binary given (through $UNIT_RUNNER when set: wine for the Windows
# build), then prints one total line "unit: N passed, N failed".
passed=0; failed=0; status=0
for t in "$@"; do
    out=$($UNIT_RUNNER "$t") || status=1
    printf '%s\n' "$out"
    line=$(printf '%s\n' "$out" | tail -n 1)
    p=$(printf '%s' "$line" | sed -n 's/.* \([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed.*/\1/p')
    f=$(printf '%s' "$line" | sed -n 's/.* \([0-9][0-9]*\) passed, \([0-9][0-9]*\) failed.*/\2/p')
    if [ -z "$p" ]; then echo "$t: no result line (crashed?)"; failed=$((failed + 1)); status=1; continue; fi
    passed=$((passed + p)); failed=$((failed + f))
done
echo "unit: $passed passed, $failed failed"
exit $status
