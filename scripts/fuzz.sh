#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# scripts/fuzz.sh [SECONDS_PER_TARGET]: a bounded libFuzzer run of every fuzz
# target (tests/fuzz: the wire decoders and the OFFER manifest), built by
# clang with AddressSanitizer + UBSan in ./build-fuzz. Each target starts
# from the committed seed corpus plus every saved regression input, in a
# scratch copy (the repository's corpus is not changed). A finding stops
# the run: the crashing input is copied to tests/fuzz/regress/<target>/,
# where test_fuzz_replay replays it in every build from then on; fix the
# bug and commit that file. Prints the inputs each target executed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
secs=${1:-${CPN_FUZZ_SECONDS:-55}}
dir=build-fuzz

if [ -f "$dir/meson-private/coredata.dat" ]; then
    meson setup --reconfigure -Dfuzz=enabled -Dwerror=true "$dir" >/dev/null
else
    CC=${CI_FUZZ_CC:-clang} meson setup -Dfuzz=enabled -Dwerror=true "$dir" >/dev/null
fi
meson compile -C "$dir" tests/fuzz/fuzz-wire tests/fuzz/fuzz-offer

work=$(mktemp -d -t cpn-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
total=0
for t in wire offer; do
    mkdir -p "$work/$t/corpus" "$work/$t/art" "tests/fuzz/regress/$t"
    cp tests/fuzz/corpus/$t/* "$work/$t/corpus/"
    cp tests/fuzz/regress/$t/* "$work/$t/corpus/" 2>/dev/null || true
    rc=0
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "./$dir/tests/fuzz/fuzz-$t" -max_total_time="$secs" -max_len=65536 \
        -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/$t/art/" "$work/$t/corpus" \
        >"$work/$t/log" 2>&1 || rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t/log" | tail -1)
    printf 'fuzz-%s: %s inputs in %ss, corpus %s files, exit %d\n' "$t" \
        "${runs:-?}" "$secs" "$(ls "$work/$t/corpus" | wc -l)" "$rc"
    total=$(( total + ${runs:-0} ))
    if [ "$rc" -ne 0 ] || [ -n "$(ls -A "$work/$t/art")" ]; then
        tail -n 60 "$work/$t/log"
        for f in "$work/$t/art"/*; do
            [ -f "$f" ] || continue
            cp "$f" "tests/fuzz/regress/$t/"
            printf 'finding saved as tests/fuzz/regress/%s/%s\n' "$t" "$(basename "$f")"
        done
        exit 1
    fi
done
printf 'fuzz: %d inputs executed in all, no findings\n' "$total"
