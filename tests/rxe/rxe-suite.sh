#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# rxe-suite.sh: meson suite `rxe`. Boots a throw-away QEMU guest with
# Soft-RoCE (run-in-rxe-vm.sh) and runs guest-tests.sh in it with the
# binaries given. Exit: the guest's status; 77 (SKIP, with the reason) where
# QEMU, busybox or the guest kernel cannot be had or the guest cannot boot.
#
# Usage: rxe-suite.sh TEST_VERBS_BINARY CPN_BINARY [EXTRA_SCRIPT [FILES...]]
#   EXTRA_SCRIPT (optional) runs in the guest after the tests (the bench).
# Env: RXEVM_* (see run-in-rxe-vm.sh); CPN_RXE_SKIP=1 skips on purpose.
set -u
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tv=${1:?usage: $0 TEST_VERBS CPN [EXTRA_SCRIPT [FILES...]]}
cpn=${2:?usage}
shift 2
skip() { echo "SKIP: $*"; exit 77; }

[ "${CPN_RXE_SKIP:-0}" = 1 ] && skip "CPN_RXE_SKIP=1"
command -v qemu-system-x86_64 >/dev/null ||
    skip "qemu-system-x86_64 is not installed (scripts/install-deps.sh installs qemu-system-x86)"
[ -x /bin/busybox ] || skip "busybox-static is not installed (scripts/install-deps.sh)"
for b in ibv_devinfo ib_write_bw rdma cpio depmod xz; do
    command -v $b >/dev/null || skip "$b is not installed (scripts/install-deps.sh)"
done
[ -f /etc/libibverbs.d/rxe.driver ] || skip "the rxe verbs provider (ibverbs-providers) is not installed"

stage=$(mktemp -d "${TMPDIR:-/tmp}/cpnverbs-stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
cp "$tv" "$stage/test_transport_verbs"
cp "$cpn" "$stage/cpn"
# the command links libcpn.so through an $ORIGIN rpath: take it along
for l in $(ldd "$cpn" | awk '/libcpn/{print $3}'); do cp -L "$l" "$stage/"; done
cp "$here/guest-tests.sh" "$stage/"
extra_env=
if [ $# -gt 0 ]; then
    cp "$1" "$stage/extra.sh"
    shift
    for f in "$@"; do cp "$f" "$stage/"; done
    extra_env="RXE_EXTRA=1 "
fi

export RXEVM_TIMEOUT=${RXEVM_TIMEOUT:-840}
export RXEVM_NO_INSTALL=1
log=$stage/guest.log
# sanitizer settings of the caller (.ci/run's asan step) hold in the guest too
san_env=
for v in ASAN_OPTIONS UBSAN_OPTIONS CPN_LOG_LEVEL; do
    [ -n "${!v:-}" ] && san_env+="$v=${!v} "
done
gcmd="${san_env}${extra_env}bash /extra/guest-tests.sh"
# the benchmark alone (bench/verbs_vs_perftest.sh --guest)
[ "${CPN_RXE_ONLY_EXTRA:-0}" = 1 ] && gcmd="${san_env}bash /extra/extra.sh"
"$here/run-in-rxe-vm.sh" "$gcmd" "$stage" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
case $rc in
    3) skip "$(grep -a 'rxevm:' "$log" | tail -1)";;
    125) if grep -aq 'RXE-RESULT' "$log"; then exit 1; fi
         skip "the QEMU guest did not boot or report (see the console above)";;
esac
exit "$rc"
