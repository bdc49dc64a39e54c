#!/usr/bin/env bash
# Runs Criterion test binaries and prints one summary line.
# usage: run-tests.sh BUILD_DIR BIN...
# LAB_TEST_FILTER: a Criterion --filter pattern for every binary;
# LAB_TEST_TAG: text appended to each binary's name in the report.
set -u
build=$1; shift
pass=0; fail=0; skip=0; failed_bins=()
export LAB_TEST_BUILD="$build"
for t in "$@"; do
  [ -x "$t" ] || continue
  out=$("$t" --jobs 1 --short-filename --verbose ${LAB_TEST_FILTER:+--filter "$LAB_TEST_FILTER"} 2>&1); rc=$?
  line=$(printf '%s\n' "$out" | grep -E 'Synthesis: Tested:' | tail -1)
  # Synthesis: Tested: N | Passing: P | Failing: F | Crashing: C
  n=$(sed -E 's/.*Tested: ([0-9]+).*/\1/' <<<"$line"); p=$(sed -E 's/.*Passing: ([0-9]+).*/\1/' <<<"$line")
  f=$(sed -E 's/.*Failing: ([0-9]+).*/\1/' <<<"$line"); c=$(sed -E 's/.*Crashing: ([0-9]+).*/\1/' <<<"$line")
  # Skipped tests are not in Criterion's "Tested" count; --verbose lists them.
  s=$(printf '%s\n' "$out" | grep -c '^\[SKIP\]' || true)
  why=$(printf '%s\n' "$out" | grep -m1 '^\[SKIP\]' | sed -E 's/^\[SKIP\] [^:]+::[^:]+: //' || true)
  # Criterion passes a test whose forked child reports a leak or UB; the
  # sanitizers' own lines decide then.
  san=$(printf '%s\n' "$out" | grep -E -m3 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' || true)
  if [ -n "$san" ]; then
    rc=99; f=$(( ${f:-0} + 1 ))
  fi
  if [ -z "$line" ] || [ $rc -ne 0 ]; then
    printf '%s\n' "$out" | tail -40
    echo "FAIL  $t${LAB_TEST_TAG:-} (exit $rc)"
    fail=$((fail + ${f:-0} + ${c:-0})); [ -z "$line" ] && fail=$((fail + 1))
    pass=$((pass + ${p:-0}))
    failed_bins+=("$t")
  else
    printf '  ok    %-28s %3s passed%s\n' "$(basename "$t")${LAB_TEST_TAG:-}" "$p" "$([ "$s" -gt 0 ] && echo ", $s skipped ($why)")"
    pass=$((pass + p)); skip=$((skip + s))
  fi
done
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
