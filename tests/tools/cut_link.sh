#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# cut_link.sh: a cut link in the middle of a task, then the link back.
# Two network namespaces joined by a veth pair, rate-limited (tbf) so the
# task takes a few seconds; `cpn serve` in one, `cpn send --resume` in the
# other. Once part of the task has landed, the link goes down (both ends
# lose carrier: nothing passes, nothing is refused, as with a cable pulled
# somewhere between two sites) for longer than CPN_SITE_PEER_TIMEOUT, and
# comes back. Both sides must declare the peer dead, the receiver keep what
# it verified, and the sender reconnect and send only the missing chunks:
# the task lands byte-exact, its receipt counts resumed chunks, and nothing
# was ever visible under the job's final name before.
#
# Usage: cut_link.sh [MiB] [ucx|dpdk]     (CPN_CLI: the cpn binary)
# ucx (default) runs UCX over TCP on the veth pair; dpdk runs the DPDK
# transport with net_af_packet on each end.
# Exit 0 resumed and equal; 1 failed; 77 skipped (says why).
set -euo pipefail

mib=${1:-48}
transport=${2:-ucx}
cli=${CPN_CLI:-$(dirname "$0")/../../build/tools/cpn/cpn}
tag=cpncut$$
dir=$(mktemp -d /tmp/${tag}.XXXXXX)
ns_s=${tag}s
ns_c=${tag}c
serve_pid=
send_pid=

. "$(dirname "$0")/serve_lib.sh"
say() { printf 'cut_link: %s\n' "$*" >&2; }

cleanup() {
    for p in $send_pid $serve_pid; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    ip netns del "$ns_s" 2>/dev/null || true
    ip netns del "$ns_c" 2>/dev/null || true
    [ -n "${KEEP:-}" ] || rm -rf "$dir"
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null ||
   ! command -v tc >/dev/null; then
    say "SKIP: needs root, ip(8) and tc(8)"
    exit 77
fi
if ! ip netns add "$ns_s" 2>/dev/null; then
    say "SKIP: cannot create network namespaces here"
    exit 77
fi
ip netns add "$ns_c"
ip link add "${tag}a" type veth peer name "${tag}b"
ip link set "${tag}a" netns "$ns_s"
ip link set "${tag}b" netns "$ns_c"
ip -n "$ns_s" addr add 10.81.0.1/24 dev "${tag}a"
ip -n "$ns_c" addr add 10.81.0.2/24 dev "${tag}b"
for ns in "$ns_s" "$ns_c"; do
    ip -n "$ns" link set lo up
done
ip -n "$ns_s" link set "${tag}a" up
ip -n "$ns_c" link set "${tag}b" up
# 200 Mbit/s each way: a 48 MiB task takes about 2 s
for pair in "$ns_s ${tag}a" "$ns_c ${tag}b"; do
    set -- $pair
    if ! tc -n "$1" qdisc add dev "$2" root tbf rate 200mbit burst 64kb \
            latency 100ms 2>"$dir/tc.err"; then
        say "SKIP: no tbf qdisc here: $(cat "$dir/tc.err")"
        exit 77
    fi
done

mkdir -p "$dir/src" "$dir/land"
head -c $((mib << 20)) /dev/urandom > "$dir/src/model.bin"
export UCX_TLS=tcp CPN_LOG_LEVEL=${CPN_LOG_LEVEL:-warn}
export CPN_SITE_PEER_TIMEOUT=1s CPN_SITE_KEEPALIVE=200ms
run_s=(ip netns exec "$ns_s")
run_c=(ip netns exec "$ns_c")
case "$transport" in
ucx) ;;
dpdk)
    info=$("$cli" info 2>/dev/null || true)
    if ! grep -qw dpdk <<<"$info"; then
        say "SKIP: this cpn has no dpdk transport (install libdpdk-dev)"
        exit 77
    fi
    export CPN_SITE_TRANSPORT=dpdk CPN_DPDK_HUGE=${CPN_DPDK_HUGE:-n}
    export CPN_DPDK_MEM=${CPN_DPDK_MEM:-256M} CPN_DPDK_MBUFS=${CPN_DPDK_MBUFS:-8191}
    run_s+=(env "CPN_DPDK_VDEVS=net_af_packet0,iface=${tag}a,qpairs=1"
            "CPN_DPDK_PORTS=net_af_packet0@10.81.0.1"
            "CPN_DPDK_FILE_PREFIX=${tag}s")
    run_c+=(env "CPN_DPDK_VDEVS=net_af_packet0,iface=${tag}b,qpairs=1"
            "CPN_DPDK_PORTS=net_af_packet0@10.81.0.2"
            "CPN_DPDK_FILE_PREFIX=${tag}c")
    ;;
*)
    say "usage: cut_link.sh [MiB] [ucx|dpdk]"
    exit 2
    ;;
esac

start_serve "$dir" "${run_s[@]}" "$cli" serve --listen 10.81.0.1:7411 \
    --land "$dir/land" -N 1 -q

"${run_c[@]}" "$cli" send --resume --json --to 10.81.0.1:7411 \
    --job cutjob --timeout 120 "$dir/src/model.bin" \
    > "$dir/receipt.json" 2> "$dir/send.log" &
send_pid=$!

# the cut: once a quarter of the task is on the receiver's disk
landed() { du -sb "$dir/land" 2>/dev/null | cut -f1; }
for _ in $(seq 300); do
    [ "$(landed)" -ge $(( (mib << 20) / 4 )) ] && break
    kill -0 "$send_pid" 2>/dev/null || break
    sleep 0.02
done
if ! kill -0 "$send_pid" 2>/dev/null; then
    say "FAIL: cpn send ended before the link could be cut:"
    cat "$dir/send.log" >&2
    exit 1
fi
before=$(landed)
ip -n "$ns_c" link set "${tag}b" down
say "link down with $before bytes landed"
sleep 3
if [ -e "$dir/land/cutjob" ]; then
    say "FAIL: cutjob visible under its final name while the link was down"
    exit 1
fi
ip -n "$ns_c" link set "${tag}b" up
say "link up"

if ! wait "$send_pid"; then
    send_pid=
    say "FAIL: cpn send --resume did not deliver after the link came back:"
    cat "$dir/send.log" "$dir/serve.log" >&2
    exit 1
fi
send_pid=
wait "$serve_pid" || { say "FAIL: cpn serve exited with an error"; cat "$dir/serve.log" >&2; exit 1; }
serve_pid=

if ! grep -q reconnecting "$dir/send.log"; then
    say "FAIL: the sender never lost the connection (the cut did not cut):"
    cat "$dir/send.log" >&2
    exit 1
fi
resumed=$(grep -o '"resumed_chunks": *[0-9]*' "$dir/receipt.json" |
          grep -o '[0-9]*$' || echo 0)
if [ "${resumed:-0}" -le 0 ]; then
    say "FAIL: nothing was resumed; the receipt:"
    cat "$dir/receipt.json" >&2
    exit 1
fi
if ! cmp -s "$dir/src/model.bin" "$dir/land/cutjob/model.bin"; then
    say "FAIL: model.bin differs or is missing at the receiver"
    exit 1
fi
if ls -A "$dir/land" | grep -q '^\.cpn-'; then
    say "FAIL: state left in the landing directory: $(ls -A "$dir/land")"
    exit 1
fi
say "OK: $transport: ${mib} MiB task cut at $before bytes, resumed ($resumed chunks held by the receiver), byte-exact"
