#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench_verbs_guest.sh: `cpn bench --local -t verbs` with its perftest
# references (ib_write_bw, ib_write_lat, ib_send_lat) inside the Soft-RoCE
# guest of tests/rxe (QEMU, rdma_rxe on veth0), the bench JSON copied back
# out to OUT.json for `cpn assess` and `cpn report`. The guest is usually
# TCG-emulated: absolute figures mean little, the ratios in one run count.
#
# Usage: bench/bench_verbs_guest.sh OUT.json [cpn bench options]
#   default options: -T put_bw,put_lat,send_lat -s 64,4K,64K -n 200 -w 20
#   --trials 3 --timeout 120
#   BUILD=build (where cpn and tests/rxe/test_transport_verbs are built)
# Exit: the guest's status (cpn bench's); 77 when the guest cannot run here.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:?usage: bench_verbs_guest.sh OUT.json [cpn bench options]}
shift
build=${BUILD:-$here/../build}
opts=("$@")
[ ${#opts[@]} -gt 0 ] || opts=(-T put_bw,put_lat,send_lat -s 64,4K,64K -n 200
                               -w 20 --trials 3 --timeout 120)
extra=$(mktemp /tmp/cpnbvg.XXXXXX.sh)
log=$(mktemp /tmp/cpnbvg.XXXXXX.log)
trap 'rm -f "$extra" "$log"' EXIT

# In the guest: the server listens on rxe0's IP (rdma_cm needs an address
# on the RDMA device's netdev); perftest runs on rxe0 (CPN_BENCH_IB_DEV).
cat > "$extra" <<EOS
export CPN_BENCH_LOCAL_HOST=\$RXE0_IP CPN_BENCH_IB_DEV=rxe0
/extra/cpn bench --local -t verbs ${opts[*]} -j /tmp/verbs.json
rc=\$?
echo "== BENCH-JSON-BEGIN"
cat /tmp/verbs.json
echo "== BENCH-JSON-END"
exit \$rc
EOS
CPN_RXE_ONLY_EXTRA=1 "$here/../tests/rxe/rxe-suite.sh" \
    "$build/tests/rxe/test_transport_verbs" "$build/tools/cpn/cpn" "$extra" \
    2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
sed -n '/^== BENCH-JSON-BEGIN/,/^== BENCH-JSON-END/p' "$log" |
    sed '1d;$d' | tr -d '\r' > "$out.tmp"
if python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$out.tmp" 2>/dev/null; then
    mv "$out.tmp" "$out"
    echo "bench_verbs_guest: wrote $out (guest exit $rc)"
else
    rm -f "$out.tmp"
    echo "bench_verbs_guest: no bench JSON came back (guest exit $rc)" >&2
    [ "$rc" = 0 ] && rc=1
fi
exit "$rc"
