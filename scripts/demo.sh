#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# demo.sh: the README's first command. Installs what is missing, builds cpn
# in ./build (configuring it, or reconfiguring an existing one) and runs
# `cpn demo`, which delivers a small task between two sites on this machine
# and prints its receipt. Arguments are passed to `cpn demo`.
#
# Usage: scripts/demo.sh [cpn demo options]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=${BUILD_DIR:-build}

step() { printf '\n==> %s\n' "$*"; }
# Run meson setup quietly; show its output only when it fails.
quiet() {
    local out
    if ! out=$("$@" 2>&1); then
        printf '%s\n' "$out" >&2
        return 1
    fi
}

step "installing dependencies"
scripts/install-deps.sh

if [ -f "$build/meson-private/coredata.dat" ]; then
    step "meson setup --reconfigure $build"
    quiet meson setup --reconfigure "$build"
else
    step "meson setup $build"
    quiet meson setup "$build"
fi

step "meson compile -C $build"
meson compile -C "$build"

cpn=$build/tools/cpn/cpn
case $cpn in /*) ;; *) cpn=./$cpn ;; esac
step "$cpn demo $*"
exec "$cpn" demo "$@"
