#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# dpdk_task.sh: deliver a whole task between two cpn processes over the DPDK
# transport, and check it landed byte-exact. Two set-ups:
#
#   memif    `cpn serve` and `cpn send` joined by a net_memif pair
#            (server/client on one unix socket), no privileges needed; then
#            a second `cpn send` to the same `cpn serve`: the first sender,
#            closing its port, must have had the server stop polling it
#            (QUIESCE answered: memif's disconnect unmaps the rings under a
#            process still polling them), and the server must poll it again
#            once the second sender's link is up
#   flags    the same memif pair set up with --dpdk-* options, the
#            CPN_DPDK_* variables set to wrong values the options override
#   veth     two network namespaces joined by a veth pair, DPDK's
#            net_af_packet on each end (root, ip netns); PMD=af_xdp tries
#            net_af_xdp instead
#   pcap     veth, with tcpdump capturing on the server's end: the frames
#            must parse as IPv4/UDP between the two sites' addresses and
#            ports, in tcpdump and (when installed) tshark
#   jumbo    veth and af_packet at MTU 64000, af_packet's ring slots sized
#            by cpn; first a framesz too small for that MTU must be refused
#            with an error naming the port and framesz
#   memif9k  memif at MTU 9000, memif's buffers sized by cpn
#   memifzc  memif with the sender in memif's zero-copy mode (zero-copy=yes
#            on its client end: the server reads frames straight out of the
#            sender's mbufs and writes acks straight into them), which the
#            PMD refuses unless cpn gives the EAL --single-file-segments
#   corrupt  memif, the receiver flipping a byte of 0.05% of the frames it
#            gets (CPN_DPDK_FAULT_CORRUPT): frames into the staging slots
#            leave their payload to the runtime's chunk hash, so corrupt
#            chunks must be caught there and sent again
#
# Usage: dpdk_task.sh memif|flags|veth|pcap|jumbo|memif9k|memifzc|corrupt [MiB]
#   (CPN_CLI: the cpn binary)
# Exit 0 delivered and equal; 1 failed; 77 skipped (say why).
set -euo pipefail

mode=${1:-memif}
mib=${2:-24}
cli=${CPN_CLI:-$(dirname "$0")/../../build/tools/cpn/cpn}
pmd=${PMD:-af_packet}
tag=cpndpdk$$
dir=$(mktemp -d /tmp/${tag}.XXXXXX)
ns_s=${tag}s
ns_c=${tag}c
serve_pid=
dump_pid=

. "$(dirname "$0")/serve_lib.sh"
say() { printf 'dpdk_task: %s\n' "$*" >&2; }

cleanup() {
    if [ -n "$dump_pid" ]; then
        kill "$dump_pid" 2>/dev/null || true
        wait "$dump_pid" 2>/dev/null || true
    fi
    if [ -n "$serve_pid" ]; then
        kill "$serve_pid" 2>/dev/null || true
        wait "$serve_pid" 2>/dev/null || true
    fi
    if [ "$mode" = veth ] || [ "$mode" = pcap ] || [ "$mode" = jumbo ]; then
        ip netns del "$ns_s" 2>/dev/null || true
        ip netns del "$ns_c" 2>/dev/null || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT

# (the whole output first: grep -q quitting early would SIGPIPE cpn, and
# pipefail would then read as "no dpdk")
info=$("$cli" info 2>/dev/null || true)
if ! grep -qw dpdk <<<"$info"; then
    say "SKIP: this cpn has no dpdk transport (install libdpdk-dev)"
    exit 77
fi

mkdir -p "$dir/src/job/sub" "$dir/land"
head -c $((mib << 20)) /dev/urandom > "$dir/src/job/model.bin"
head -c 12345 /dev/urandom > "$dir/src/job/sub/shard.bin"
echo '{"epochs": 3}' > "$dir/src/job/spec.json"

export CPN_DPDK_HUGE=${CPN_DPDK_HUGE:-n} CPN_DPDK_MEM=${CPN_DPDK_MEM:-256M}
export CPN_DPDK_MBUFS=${CPN_DPDK_MBUFS:-8191} CPN_LOG_LEVEL=${CPN_LOG_LEVEL:-warn}

case "$mode" in
memif|memif9k|memifzc|corrupt)
    zc=
    [ "$mode" = memifzc ] && zc=,zero-copy=yes
    if [ "$mode" = memif9k ]; then
        mtu=9000
        export CPN_DPDK_MTU=$mtu
        port=net_memif0
    fi
    sock="$dir/memif.sock"
    run_s=(env "CPN_DPDK_VDEVS=net_memif0,role=server,socket=$sock,socket-abstract=no"
           "CPN_DPDK_PORTS=net_memif0@10.78.0.2" "CPN_DPDK_FILE_PREFIX=${tag}s")
    [ "$mode" = corrupt ] &&
        run_s+=(CPN_DPDK_FAULT_CORRUPT=0.0005 CPN_DPDK_FAULT_SEED=5 CPN_LOG_LEVEL=info)
    run_c=(env "CPN_DPDK_VDEVS=net_memif0,role=client,socket=$sock,socket-abstract=no$zc"
           "CPN_DPDK_PORTS=net_memif0@10.78.0.1" "CPN_DPDK_FILE_PREFIX=${tag}c")
    if [ "$mode" = memif ]; then
        run_s+=(CPN_LOG_LEVEL=info)
        run_c+=(CPN_LOG_LEVEL=info)
        tasks=2
    fi
    ;;
flags)
    sock="$dir/memif.sock"
    # Wrong on purpose: the options below must win over every one of them.
    export CPN_DPDK_VDEVS=net_bogus0 CPN_DPDK_PORTS=nosuchport@10.0.0.9
    export CPN_DPDK_FILE_PREFIX=${tag}bogus CPN_DPDK_MTU=1280
    common=(--dpdk-hugepages n --dpdk-mem 256M --dpdk-mtu 1500)
    run_s=(env)
    run_c=(env)
    opts_s=(--dpdk-vdev "net_memif0,role=server,socket=$sock,socket-abstract=no"
            --dpdk-port net_memif0 --dpdk-file-prefix "${tag}s" "${common[@]}")
    opts_c=(--dpdk-vdev "net_memif0,role=client,socket=$sock,socket-abstract=no"
            --dpdk-port net_memif0 --dpdk-ip 10.78.0.1
            --dpdk-file-prefix "${tag}c" "${common[@]}")
    ;;
veth|pcap|jumbo)
    if [ "$mode" = pcap ] && ! command -v tcpdump >/dev/null; then
        say "SKIP: no tcpdump to capture with (apt-get install tcpdump)"
        exit 77
    fi
    if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null; then
        say "SKIP: the veth test needs root and ip(8)"
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
    mtu=1500
    if [ "$mode" = jumbo ]; then
        # 64 KiB mbufs: a smaller pool than the other modes' (cpn's default)
        mtu=64000
        export CPN_DPDK_MTU=$mtu CPN_DPDK_MBUFS=0 CPN_DPDK_MEM=512M
    fi
    ip -n "$ns_s" link set "${tag}a" mtu $mtu up
    ip -n "$ns_c" link set "${tag}b" mtu $mtu up
    ip -n "$ns_s" link set lo up
    ip -n "$ns_c" link set lo up
    if [ "$pmd" = af_xdp ]; then
        vs="net_af_xdp0,iface=${tag}a"
        vc="net_af_xdp0,iface=${tag}b"
        port=net_af_xdp0
    else
        vs="net_af_packet0,iface=${tag}a,qpairs=1"
        vc="net_af_packet0,iface=${tag}b,qpairs=1"
        port=net_af_packet0
    fi
    run_s=(ip netns exec "$ns_s" env "CPN_DPDK_VDEVS=$vs"
           "CPN_DPDK_PORTS=$port@10.79.0.2" "CPN_DPDK_FILE_PREFIX=${tag}s")
    run_c=(ip netns exec "$ns_c" env "CPN_DPDK_VDEVS=$vc"
           "CPN_DPDK_PORTS=$port@10.79.0.1" "CPN_DPDK_FILE_PREFIX=${tag}c")
    ;;
*)
    say "usage: dpdk_task.sh memif|flags|veth|pcap|jumbo|memif9k|memifzc|corrupt [MiB]"
    exit 2
    ;;
esac
case "$mode" in veth|pcap|jumbo) ip_s=10.79.0.2 ip_c=10.79.0.1 ;;
                *) ip_s=10.78.0.2 ip_c=10.78.0.1 ;; esac
[ "$mode" = flags ] || { opts_s=(--transport dpdk); opts_c=(--transport dpdk); }

if [ "$mode" = jumbo ] && [ "$pmd" = af_packet ]; then
    # af_packet slots of 9728 bytes cannot carry 64000-byte packets: refused
    # before anything is sent, naming the port and what to change.
    if ip netns exec "$ns_c" env "CPN_DPDK_VDEVS=$vc,framesz=9728,blocksz=77824" \
            "CPN_DPDK_PORTS=$port@$ip_c" "CPN_DPDK_FILE_PREFIX=${tag}x" \
            CPN_DPDK_MTU_CLAMP=n "$cli" send --transport dpdk --to "$ip_s:7400" \
            --timeout 5s -q "$dir/src/job/spec.json" > /dev/null 2> "$dir/bad.log"; then
        say "FAIL: a 9728-byte framesz was taken for MTU $mtu"
        exit 1
    fi
    if ! grep -q "net_af_packet0.*framesz=9728" "$dir/bad.log"; then
        say "FAIL: the error does not name the port and its framesz:"
        cat "$dir/bad.log" >&2
        exit 1
    fi
fi

start_serve "$dir" "${run_s[@]}" "$cli" serve "${opts_s[@]}" \
    --listen "$ip_s:7400" --land "$dir/land" -N "${tasks:-1}" -q

if [ "$mode" = pcap ]; then
    # Headers only (-s 160): Ethernet, IPv4, UDP and the cpn header.
    ip netns exec "$ns_s" tcpdump -i "${tag}a" -nn -s 160 -U -w "$dir/cap.pcap" \
        2> "$dir/tcpdump.log" &
    dump_pid=$!
    for _ in $(seq 100); do
        grep -q "listening on" "$dir/tcpdump.log" 2>/dev/null && break
        kill -0 "$dump_pid" 2>/dev/null || break
        sleep 0.1
    done
    if ! grep -q "listening on" "$dir/tcpdump.log"; then
        say "FAIL: tcpdump did not start on ${tag}a:"
        cat "$dir/tcpdump.log" >&2
        exit 1
    fi
fi

start=$(date +%s%N)
if ! "${run_c[@]}" "$cli" send "${opts_c[@]}" --to "$ip_s:7400" \
        --timeout 60s -q -j "$dir/src/job/" > "$dir/receipt.json" \
        2> "$dir/send.log"; then
    say "FAIL: cpn send failed:"
    cat "$dir/send.log" "$dir/serve.log" >&2
    exit 1
fi
end=$(date +%s%N)
if [ "${tasks:-1}" -eq 2 ]; then
    # (the log's closing line: "... N times quiesced by the peer, M
    # quiesces answered")
    if ! grep -q "1 quiesces answered" "$dir/send.log" ||
       ! grep -q "the peer is stopping the port" "$dir/serve.log"; then
        say "FAIL: the sender stopped its memif port without the server's QUIESCED:"
        cat "$dir/send.log" "$dir/serve.log" >&2
        exit 1
    fi
    if ! "${run_c[@]}" CPN_DPDK_FILE_PREFIX=${tag}c2 "$cli" send "${opts_c[@]}" \
            --to "$ip_s:7400" --timeout 60s -q --job again "$dir/src/job/" \
            > "$dir/receipt2.json" 2> "$dir/send2.log"; then
        say "FAIL: the second cpn send failed (the server polls the port again?):"
        cat "$dir/send2.log" "$dir/serve.log" >&2
        exit 1
    fi
    if ! grep -q "its link is up again; polling it again" "$dir/serve.log" ||
       ! cmp -s "$dir/src/job/model.bin" "$dir/land/again/model.bin"; then
        say "FAIL: the second task did not land, or the server did not say it polls again:"
        cat "$dir/serve.log" >&2
        exit 1
    fi
fi
wait "$serve_pid" || { say "FAIL: cpn serve exited with an error"; cat "$dir/serve.log" >&2; exit 1; }
serve_pid=

for f in model.bin sub/shard.bin spec.json; do
    if ! cmp -s "$dir/src/job/$f" "$dir/land/job/$f"; then
        say "FAIL: $f differs or is missing at the receiver"
        exit 1
    fi
done
if [ "$mode" = pcap ]; then
    kill -INT "$dump_pid"
    wait "$dump_pid" 2>/dev/null || true
    dump_pid=
    # The client's frames to the server's listening port, as tcpdump reads
    # them: "IP 10.79.0.1.40016 > 10.79.0.2.7400: UDP, length 1442".
    filter="ip and udp and src host $ip_c and dst host $ip_s and dst port 7400"
    n=$(tcpdump -r "$dir/cap.pcap" -nn "$filter" 2>/dev/null | grep -c "UDP, length" || true)
    bad=$(tcpdump -r "$dir/cap.pcap" -nn -v "$filter" 2>/dev/null | grep -ci "bad\|truncated" || true)
    say "capture: $n IPv4/UDP frames $ip_c > $ip_s:7400 in tcpdump, $bad with errors"
    if [ "$n" -lt 100 ] || [ "$bad" -ne 0 ]; then
        say "FAIL: tcpdump does not see the task's frames as IPv4/UDP:"
        tcpdump -r "$dir/cap.pcap" -nn -c 5 >&2 || true
        exit 1
    fi
    if command -v tshark >/dev/null; then
        # (`-d udp.port==7400,data`: 7400 is also RTPS's port; cpn's
        # payload is opaque to wireshark)
        tshark -r "$dir/cap.pcap" -n -d udp.port==7400,data \
            -o ip.check_checksum:TRUE \
            -Y "ip.src==$ip_c && ip.dst==$ip_s && udp.dstport==7400" \
            -T fields -e ip.src -e udp.srcport -e ip.dst -e udp.dstport \
            -e ip.checksum.status -e _ws.malformed \
            > "$dir/tshark.txt" 2> "$dir/tshark.log" || true
        tn=$(wc -l < "$dir/tshark.txt")
        tbad=$(awk -F'\t' '$5 != "1" || $6 != ""' "$dir/tshark.txt" | wc -l)
        say "capture: $tn frames in tshark, $tbad malformed or with a bad IP checksum"
        if [ "$tn" -ne "$n" ] || [ "$tbad" -ne 0 ]; then
            say "FAIL: tshark disagrees:"
            head -5 "$dir/tshark.txt" "$dir/tshark.log" >&2
            exit 1
        fi
    else
        say "capture: tshark not installed; checked with tcpdump only"
    fi
fi
# (the lanes name the port and MTU: the options', not the variables')
if [ "$mode" = flags ] && ! grep -q "net_memif0 mtu 1500" "$dir/receipt.json"; then
    say "FAIL: the receipt does not name the --dpdk-port/--dpdk-mtu port:"
    cat "$dir/receipt.json" >&2
    exit 1
fi
if { [ "$mode" = jumbo ] || [ "$mode" = memif9k ]; } &&
   ! grep -q "$port mtu $mtu" "$dir/receipt.json"; then
    say "FAIL: the receipt does not show MTU $mtu on $port:"
    cat "$dir/receipt.json" >&2
    exit 1
fi
if [ "$mode" = corrupt ]; then
    chunks=$(grep -o '"chunks": *[0-9]*' "$dir/receipt.json" | grep -o '[0-9]*$')
    bad=$(grep -o 'dropped: [0-9]* checksum' "$dir/serve.log" | grep -o '[0-9]*' | tail -1)
    say "corrupt: $chunks chunks for $((mib * 4)), $bad frames dropped on their checksum"
    if [ "${chunks:-0}" -le $((mib * 4)) ]; then
        say "FAIL: no chunk was sent again: the corrupt payloads went unseen"
        cat "$dir/receipt.json" "$dir/serve.log" >&2
        exit 1
    fi
fi
# (chunks over DPDK are capped at CPN_DPDK_CHUNK_MAX, 256K: 4 per MiB; the
# two small files ride in the offer)
if { [ "$mode" = memif ] || [ "$mode" = memif9k ]; } &&
   [ -z "${CPN_DPDK_CHUNK_MAX:-}" ] &&
   ! grep -q "\"chunks\": *$((mib * 4))," "$dir/receipt.json"; then
    say "FAIL: want $((mib * 4)) chunks of 256 KiB in the receipt:"
    cat "$dir/receipt.json" >&2
    exit 1
fi
say "OK: $mode: ${mib} MiB task delivered byte-exact in $(( (end - start) / 1000000 )) ms"
grep -o '"goodput_gbps":[0-9.]*' "$dir/receipt.json" >&2 || true
