#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# test.sh: the README's second command. Installs what is missing, builds cpn
# in ./build with warnings as errors, and runs every meson test suite (unit,
# loopback, ...). Exits with the status of `meson test`.
#
# Usage: scripts/test.sh [extra meson test arguments, e.g. --suite unit]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${BUILD_DIR:-build}

step() { printf '\n==> %s\n' "$*"; }

step "installing dependencies"
scripts/install-deps.sh

if [ -f "$build/meson-private/coredata.dat" ]; then
    step "meson setup --reconfigure -Dwerror=true $build"
    meson setup --reconfigure -Dwerror=true "$build"
else
    step "meson setup -Dwerror=true $build"
    meson setup -Dwerror=true "$build"
fi

step "meson compile -C $build"
meson compile -C "$build"

step "meson test -C $build --print-errorlogs $*"
status=0
meson test -C "$build" --print-errorlogs "$@" || status=$?
if [ "$status" -ne 0 ]; then
    printf '\ntest.sh: meson test failed (exit %d); logs: %s/meson-logs/testlog.txt\n' \
        "$status" "$build" >&2
fi
exit "$status"
