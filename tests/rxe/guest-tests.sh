#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# guest-tests.sh: what suite `rxe` runs INSIDE the Soft-RoCE guest (cwd
# /extra, rxe0 up on veth0 with RXE0_IP). Prints one "RXE-RESULT name
# PASS|FAIL" line per part and exits non-zero if any part failed.
#   1. test_verbs: the Criterion tests of the verbs backend
#   2. a whole task: `cpn serve` and `cpn send --transport verbs`, landed
#      files compared byte for byte with the sources
#   3. (RXE_EXTRA) extra commands, e.g. the benchmark
set -u
export PATH=/extra:$PATH
fail=0
result() { echo "RXE-RESULT $1 $2"; [ "$2" = PASS ] || fail=1; }

echo "== cpn info (device, port and GID selection)"
./cpn info || true

echo "== test_verbs"
if ./test_transport_verbs --jobs=1 --timeout 240; then
    result test_verbs PASS
else
    result test_verbs FAIL
fi

echo "== a task through cpn serve / cpn send --transport verbs"
src=/tmp/cpnverbs-src/job; land=/tmp/cpnverbs-land
mkdir -p "$src/sub" "$land"
head -c 12582917 /dev/urandom > "$src/big.bin"
head -c 1 /dev/urandom > "$src/one.bin"
: > "$src/empty.bin"
head -c 70000 /dev/urandom > "$src/sub/mid.bin"
mkfifo /tmp/cpnverbs-ready
./cpn serve --transport verbs --listen "$RXE0_IP:7471" --land "$land" \
    --tasks 1 --quiet --ready-fd 3 3>/tmp/cpnverbs-ready &
spid=$!
read -r -t 60 addr < /tmp/cpnverbs-ready || addr=
echo "serve listening on ${addr:-?}"
if timeout 300 ./cpn send --transport verbs --to "$RXE0_IP:7471" --job job \
        --timeout 240s "$src/"; then
    wait "$spid"; srv_rc=$?
    if [ "$srv_rc" -eq 0 ] && diff -r "$src" "$land/job" &&
       [ "$(find "$land/job" -type f | wc -l)" -eq 4 ]; then
        result task_serve_send PASS
    else
        echo "serve exit $srv_rc; landed:"; find "$land" -type f -printf '%s %p\n'
        result task_serve_send FAIL
    fi
else
    echo "cpn send failed (exit $?)"
    kill "$spid" 2>/dev/null; wait "$spid"
    result task_serve_send FAIL
fi

echo "== the receiver killed mid-task: the sender reports it"
land2=/tmp/cpnverbs-land2; mkdir -p "$land2" /tmp/cpnverbs-src2/big
head -c 40000000 /dev/zero > /tmp/cpnverbs-src2/big/zero.bin
./cpn serve --transport verbs --listen "$RXE0_IP:7472" --land "$land2" \
    --quiet 2>/tmp/cpnverbs-serve2.err &
spid=$!
sleep 2
timeout 120 ./cpn send --transport verbs --to "$RXE0_IP:7472" --job big \
    --quiet /tmp/cpnverbs-src2/big/ 2>/tmp/cpnverbs-send2.err &
cpid=$!
# kill the receiver once bytes flow (a landing file appears or 8 s pass)
for i in $(seq 80); do
    [ -n "$(find "$land2" -type f 2>/dev/null | head -1)" ] && break; sleep 0.1
done
sleep 1; kill -9 "$spid"; wait "$spid" 2>/dev/null
wait "$cpid"; crc=$?
echo "cpn send exit $crc; its error lines:"; cut -c1-300 /tmp/cpnverbs-send2.err | tail -4
if [ "$crc" -eq 3 ] || [ "$crc" -eq 1 ]; then
    result peer_killed_mid_task PASS
else
    result peer_killed_mid_task FAIL
fi

if [ -n "${RXE_EXTRA:-}" ] && [ -f /extra/extra.sh ]; then
    echo "== extra"
    bash /extra/extra.sh || result extra FAIL
fi
exit $fail
