#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench_dpdk.sh: the DPDK transport against the reference tools, same path,
# same run, ratio printed. Two cores: each side gets one (--lcores 0@0 and
# 0@1 for DPDK, taskset for the rest).
#
#   memif   dpdk-testpmd txonly -> rxonly on a net_memif pair (frame size
#           MTU+14), then cpn put bandwidth (cpn-bench-dpdk-put) and task
#           goodput on a fresh memif pair with the same MTU: memory to
#           memory (`cpn bench -T task_bw`: registered memory into the
#           receiver's memory sink, as testpmd never touches a disk) and
#           file to file (`cpn send`, the receipt's goodput). Ratio: cpn /
#           testpmd, in bits per second of frames on the wire for testpmd
#           and of payload for cpn. Each put run also says how long a frame
#           took and how much of that memif's own copies took (the time
#           inside its tx bursts at the sender, its rx bursts at the
#           receiver), and the ratios within each repeat (testpmd then
#           cpn, back to back). ZC=1: the receiving end of each memif
#           pair in memif's zero-copy mode (testpmd's rxonly and cpn's
#           put receiver are the memif client with zero-copy=yes, the
#           senders the server), testpmd and cpn put only.
#   veth    two network namespaces joined by a veth pair: iperf3 TCP over the
#           kernel, then cpn over net_af_packet (PMD=af_xdp: net_af_xdp) on
#           the same veth. Ratio: cpn put / iperf3.
#   loss    cpn put over memif with CPN_DPDK_FAULT_DROP 0.1%, 1%, 5%, as a
#           fraction of the lossless figure (the four interleaved in each
#           repeat).
#   cost    cpn's own CPU time per frame, sender and receiver together in
#           one thread over a pair of net_ring ports (cpn-bench-dpdk-put
#           --role loop): raw puts (every payload checksummed) and puts into
#           a region marked verified (headers only), as tasks do. A
#           diagnostic with no reference tool: none runs a transport's two
#           ends in one thread. It follows what the memif and NIC figures
#           hide under the PMD's copies and the host's noise.
#
# Usage: bench/bench_dpdk.sh [memif|veth|loss|cost|all] [REPEATS]
#   MTU=1500 (default), 9000 or up to 64000 (veth: the veth's MTU too),
#   SECS=5 (testpmd/iperf3 seconds),
#   PMD=af_packet|af_xdp (veth; AFP_ARGS: more af_packet devargs),
#   MIB=512 (cpn put MiB), TASK_MIB=256, BUILD=build, ZC=1 (memif)
set -uo pipefail

what=${1:-all}
reps=${2:-3}
build=${BUILD:-$(dirname "$0")/../build}
cli=$build/tools/cpn/cpn
putb=$build/bench/cpn-bench-dpdk-put
mtu=${MTU:-1500}
secs=${SECS:-5}
mib=${MIB:-512}
task_mib=${TASK_MIB:-256}
tag=cpndpdkb$$
dir=$(mktemp -d /tmp/${tag}.XXXXXX)
frame=$((mtu + 14))
pids=()

cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    ip netns del ${tag}s 2>/dev/null
    ip netns del ${tag}c 2>/dev/null
    [ -n "${KEEP:-}" ] && echo "kept $dir" || rm -rf "$dir"
}
trap cleanup EXIT

export CPN_DPDK_HUGE=${CPN_DPDK_HUGE:-n} CPN_DPDK_MEM=${CPN_DPDK_MEM:-512M}
export CPN_DPDK_MTU=$mtu CPN_LOG_LEVEL=${CPN_LOG_LEVEL:-warn}
# testpmd's EAL, like cpn's: nothing of it outlives it (no hugepage files
# or shared config left behind, no telemetry socket)
huge_arg="--no-huge --no-shconf --no-telemetry"
[ "$CPN_DPDK_HUGE" = y ] && huge_arg="--in-memory --no-telemetry"
# testpmd's mbufs: one frame each
mbuf=$((mtu > 1600 ? (frame + 4 + 128 + 1023) / 1024 * 1024 : 2176))
[ "$mbuf" -gt 65535 ] && mbuf=65535
# memif buffers that hold a whole jumbo frame, as cpn sizes its own
membs=
[ "$mtu" -gt 1500 ] && membs=",bsize=$(( (frame + 4 + 127) / 128 * 128 ))"
# af_packet: a ring deep enough for cpn's window (cpn sizes its slots for
# the MTU: DPDK 22.11's af_packet and memif report 1518-byte frames at most
# but carry what their slots and buffers hold)
afp=",framecnt=4096${AFP_ARGS:-}"
pmd=${PMD:-af_packet}
# memif zero-copy at the receiving end (ZC=1): its client role, started
# second (a memif client needs the server's socket), with the EAL's memory
# in one file (cpn adds --single-file-segments itself)
zc=${ZC:-}
zc_arg=
[ -n "$zc" ] && zc_arg=",zero-copy=yes"

median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print 0; else print a[int((NR + 1) / 2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }

# testpmd txonly -> rxonly over memif: median Rx Gb/s (frames incl. headers).
# With --stats-period testpmd runs until SIGINT, printing Rx-pps each second.
testpmd_memif() {
    local sock=$dir/tp$1.sock log=$dir/tprx$1.log txlog=$dir/tptx$1.log rx tx
    local common=($huge_arg -m 512 --no-pci)
    # (memif reports 1518-byte frames at most, but carries bigger ones in
    # chained descriptors: no --max-pkt-len above that, or testpmd refuses)
    local opts=(--stats-period 1 --mbuf-size=$mbuf
                $([ "$frame" -le 1514 ] && echo --max-pkt-len=$((frame + 4)))
                --nb-cores=1 --total-num-mbufs=16384)
    # the memif server's end first (the client needs its socket): rxonly's,
    # or with ZC=1 txonly's, the rxonly end then being a zero-copy client
    local rxv="net_memif0,role=server,socket=$sock,socket-abstract=no$membs"
    local txv="net_memif0,role=client,socket=$sock,socket-abstract=no$membs"
    local rxe=()
    if [ -n "$zc" ]; then
        rxv="net_memif0,role=client,socket=$sock,socket-abstract=no$membs$zc_arg"
        txv="net_memif0,role=server,socket=$sock,socket-abstract=no$membs"
        rxe=(--single-file-segments)
    fi
    rm -f "$sock"
    start_rx() {
        taskset -c 0 dpdk-testpmd --lcores '0@0,1@0' --file-prefix ${tag}tps \
            "${common[@]}" "${rxe[@]}" --vdev "$rxv" -- \
            --forward-mode=rxonly "${opts[@]}" > "$log" 2>&1 < /dev/null &
        rx=$!
    }
    start_tx() {
        taskset -c 1 dpdk-testpmd --lcores '0@1,1@1' --file-prefix ${tag}tpc \
            "${common[@]}" --vdev "$txv" -- \
            --forward-mode=txonly "${opts[@]}" --txpkts=$frame \
            > "$txlog" 2>&1 < /dev/null &
        tx=$!
    }
    if [ -n "$zc" ]; then start_tx; else start_rx; fi
    sleep 1.5
    if [ -n "$zc" ]; then start_rx; else start_tx; fi
    sleep $((secs + 2))
    # the memif client first (testpmd's zero-copy rxonly can crash when its
    # server goes away under it)
    if [ -n "$zc" ]; then
        kill -INT $rx; sleep 0.5; kill -INT $tx
    else
        kill -INT $tx; sleep 0.5; kill -INT $rx
    fi
    wait $tx $rx 2>/dev/null
    # Rx-pps per second on the rx side; drop the first and zero samples.
    grep -o 'Rx-pps: *[0-9]*' "$log" | awk '{print $2}' | awk '$1 > 0' |
        tail -n +2 | median | awk -v f=$frame '{printf "%.4f", $1 * f * 8 / 1e9}'
}

cpn_put_memif() {
    local sock=$dir/cp$1.sock out rrole=server srole=client
    # the memif server's end first (the client needs its socket): the
    # receiver's, or with ZC=1 the sender's, which then waits for the
    # receiver's ARP answer (CPN_DPDK_PEER_TIMEOUT_MS, 5 s)
    [ -n "$zc" ] && rrole=client srole=server
    rm -f "$sock"
    start_rx() {
        CPN_DPDK_VDEVS="net_memif0,role=$rrole,socket=$sock,socket-abstract=no$zc_arg" \
        CPN_DPDK_PORTS="net_memif0@10.78.1.2" CPN_DPDK_FILE_PREFIX=${tag}cs \
        CPN_DPDK_LCORES='0@0' $putb --role server --listen 10.78.1.2:7500 \
            > /dev/null 2> "$dir/cps.log" &
        pids+=($!)
    }
    start_tx() {
        CPN_DPDK_VDEVS="net_memif0,role=$srole,socket=$sock,socket-abstract=no" \
        CPN_DPDK_PORTS="net_memif0@10.78.1.1" CPN_DPDK_FILE_PREFIX=${tag}cc \
        CPN_DPDK_LCORES='0@1' $putb --role client --to 10.78.1.2:7500 \
            --total "$mib" > "$dir/cpc.out" 2> "$dir/cpc.log" &
        pids+=($!)
    }
    if [ -n "$zc" ]; then start_tx; else start_rx; fi
    sleep 1
    if [ -n "$zc" ]; then start_rx; else start_tx; fi
    wait
    out=$(cat "$dir/cpc.out")
    # Per frame: the sender's wall time, its PMD's tx bursts, the receiver's
    # PMD's rx bursts (memif's copy of each frame in and out of its rings).
    printf '%s %s %s\n' \
        "$(echo "$out" | grep -o 'wall_ns_per_frame [0-9.]*' | cut -d' ' -f2)" \
        "$(echo "$out" | grep -o 'pmd_tx_ns_per_frame [0-9.]*' | cut -d' ' -f2)" \
        "$(grep -o 'pmd_rx_ns_per_frame [0-9.]*' "$dir/cps.log" | cut -d' ' -f2)" \
        > "$dir/cpframe"
    echo "$out" | awk '{print $2}'
}

cpn_task_memif() {
    local sock=$dir/ct$1.sock
    rm -f "$sock" ; rm -rf "$dir/land"
    # (synced: writeback of a fresh file would compete with the first run)
    [ -f "$dir/src/big.bin" ] || { mkdir -p "$dir/src"; head -c $((task_mib << 20)) /dev/urandom > "$dir/src/big.bin"; sync; }
    exec 9>"$dir/ready$1"
    CPN_DPDK_VDEVS="net_memif0,role=server,socket=$sock,socket-abstract=no" \
    CPN_DPDK_PORTS="net_memif0@10.78.2.2" CPN_DPDK_FILE_PREFIX=${tag}ts \
    CPN_DPDK_LCORES='0@0' "$cli" serve --transport dpdk --listen 10.78.2.2:7600 \
        --land "$dir/land" -N 1 -q --ready-fd 9 > /dev/null 2>&1 &
    pids+=($!)
    exec 9>&-
    for _ in $(seq 50); do [ -s "$dir/ready$1" ] && break; sleep 0.1; done
    CPN_DPDK_VDEVS="net_memif0,role=client,socket=$sock,socket-abstract=no" \
    CPN_DPDK_PORTS="net_memif0@10.78.2.1" CPN_DPDK_FILE_PREFIX=${tag}tc \
    CPN_DPDK_LCORES='0@1' "$cli" send --transport dpdk --to 10.78.2.2:7600 \
        --timeout 120s -q -j "$dir/src/" 2>"$dir/send.log" |
        grep -o '"goodput_gbps":[0-9.]*' | cut -d: -f2
    wait
    # (gone at once: the writeback of the landed file would take a CPU
    # from the runs after this one)
    rm -rf "$dir/land"
}

# Task goodput memory to memory: `cpn bench --local -t dpdk -T task_bw` (one
# object of TASK_MIB, from registered memory into the receiver's memory
# sink, integrity on; each side on a memif pair of its own, one CPU each):
# the median of 3 trials of one task each, after a warm-up task, in Gb/s.
cpn_task_mem_memif() {
    "$cli" bench --local -q -t dpdk -T task_bw -s "${task_mib}M" -n 1 -w 1 \
        --trials 3 --no-ref -j "$dir/tm$1.json" > /dev/null 2> "$dir/tm.log"
    python3 -c 'import json,sys
r = json.load(open(sys.argv[1]))["results"][0]
v = sorted(r["bandwidth_GBps"]["trials"]) if r["status"] == "ok" else [0]
print("%.4f" % (v[len(v) // 2] * 8))' \
        "$dir/tm$1.json" 2>/dev/null || echo 0
}

run_memif() {
    local tp=() cp=() ct=() cm=() pw=() prx=() pr=() t c k m w ptx rx
    for r in $(seq "$reps"); do
        t=$(testpmd_memif "$r"); c=$(cpn_put_memif "$r")
        read -r w ptx rx < "$dir/cpframe"
        if [ -n "$zc" ]; then
            printf 'memif zero-copy receiver mtu %s run %s: testpmd %s Gb/s, cpn put %s Gb/s (%s ns a frame: memif tx %s ns of it at the sender, rx %s ns at the receiver)\n' \
                "$mtu" "$r" "$t" "$c" "${w:-0}" "${ptx:-0}" "${rx:-0}"
        else
            k=$(cpn_task_memif "$r"); m=$(cpn_task_mem_memif "$r")
            printf 'memif mtu %s run %s: testpmd %s Gb/s, cpn put %s Gb/s (%s ns a frame: memif tx %s ns of it at the sender, rx %s ns at the receiver), cpn task file->file %s Gb/s, mem->mem %s Gb/s\n' \
                "$mtu" "$r" "$t" "$c" "${w:-0}" "${ptx:-0}" "${rx:-0}" "${k:-0}" "$m"
            ct+=("${k:-0}"); cm+=("$m")
        fi
        tp+=("$t"); cp+=("$c"); pr+=("$(ratio "$c" "$t")")
        pw+=("${w:-0}"); prx+=("${rx:-0}")
    done
    t=$(printf '%s\n' "${tp[@]}" | median); c=$(printf '%s\n' "${cp[@]}" | median)
    if [ -n "$zc" ]; then
        printf 'MEMIF zero-copy receiver, frame %s B (median of %s): testpmd %s Gb/s | cpn put %s Gb/s ratio %s (target >= 0.5)\n' \
            "$frame" "$reps" "$t" "$c" "$(ratio "$c" "$t")"
    else
        k=$(printf '%s\n' "${ct[@]}" | median); m=$(printf '%s\n' "${cm[@]}" | median)
        printf 'MEMIF frame %s B (median of %s): testpmd %s Gb/s | cpn put %s Gb/s ratio %s | cpn task mem->mem %s Gb/s ratio %s | file->file %s Gb/s ratio %s (target >= 0.5)\n' \
            "$frame" "$reps" "$t" "$c" "$(ratio "$c" "$t")" "$m" "$(ratio "$m" "$t")" \
            "$k" "$(ratio "$k" "$t")"
    fi
    printf 'MEMIF cpn put per frame (medians): %s ns, of which memif rx at the receiver %s ns\n' \
        "$(printf '%s\n' "${pw[@]}" | median)" "$(printf '%s\n' "${prx[@]}" | median)"
    printf 'MEMIF cpn put / testpmd within each repeat: %s (median %s)\n' \
        "${pr[*]}" "$(printf '%s\n' "${pr[@]}" | median)"
}

# Interleaved: each repeat runs lossless, 0.1%, 1% and 5% in turn, so a
# slow spell of the machine (they come and go over seconds here) falls on
# every figure alike instead of on one of them.
run_loss() {
    local ps=(0 0.001 0.01 0.05) r p v base
    declare -A got
    for r in $(seq "$reps"); do
        for p in "${ps[@]}"; do
            if [ "$p" = 0 ]; then
                v=$(cpn_put_memif "l0$r")
            else
                v=$(CPN_DPDK_FAULT_DROP=$p cpn_put_memif "l$p$r")
            fi
            printf 'loss run %s drop %s: cpn put %s Gb/s\n' "$r" "$p" "${v:-0}"
            got[$p]+="${v:-0} "
        done
    done
    base=$(printf '%s\n' ${got[0]} | median)
    printf 'LOSS lossless cpn put %s Gb/s (median of %s)\n' "$base" "$reps"
    for p in "${ps[@]:1}"; do
        v=$(printf '%s\n' ${got[$p]} | median)
        printf 'LOSS drop %s: cpn put %s Gb/s, fraction %s (target >= 0.7 at 0.01)\n' \
            "$p" "$v" "$(ratio "$v" "$base")"
    done
}

run_veth() {
    if [ "$(id -u)" -ne 0 ] || ! ip netns add ${tag}s 2>/dev/null; then
        echo "VETH skipped: needs root and network namespaces"; return
    fi
    ip netns add ${tag}c
    ip link add ${tag}a type veth peer name ${tag}b
    ip link set ${tag}a netns ${tag}s; ip link set ${tag}b netns ${tag}c
    ip -n ${tag}s link set ${tag}a mtu "$mtu" up; ip -n ${tag}c link set ${tag}b mtu "$mtu" up
    ip -n ${tag}s addr add 10.79.9.2/24 dev ${tag}a; ip -n ${tag}c addr add 10.79.9.1/24 dev ${tag}b
    local ip3=() cp=() i c out
    for r in $(seq "$reps"); do
        ip netns exec ${tag}s taskset -c 0 iperf3 -s -1 -p 5299 > /dev/null 2>&1 &
        pids+=($!)
        sleep 0.5
        i=$(ip netns exec ${tag}c taskset -c 1 iperf3 -c 10.79.9.2 -p 5299 -t "$secs" -J 2>/dev/null |
            python3 -c 'import json,sys; print("%.4f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e9))' 2>/dev/null)
        wait
        if [ "$pmd" = af_xdp ]; then
            vs="net_af_xdp0,iface=${tag}a" vc="net_af_xdp0,iface=${tag}b" port=net_af_xdp0
        else
            vs="net_af_packet0,iface=${tag}a$afp" vc="net_af_packet0,iface=${tag}b$afp"
            port=net_af_packet0
        fi
        ip netns exec ${tag}s env CPN_DPDK_VDEVS="$vs" \
            CPN_DPDK_PORTS="$port@10.79.8.2" CPN_DPDK_FILE_PREFIX=${tag}vs \
            CPN_DPDK_LCORES='0@0' $putb --role server --listen 10.79.8.2:7700 \
            > /dev/null 2> "$dir/vs.log" &
        pids+=($!)
        sleep 1
        out=$(ip netns exec ${tag}c env CPN_DPDK_VDEVS="$vc" \
            CPN_DPDK_PORTS="$port@10.79.8.1" CPN_DPDK_FILE_PREFIX=${tag}vc \
            CPN_DPDK_LCORES='0@1' $putb --role client --to 10.79.8.2:7700 \
            --total "$mib" 2> "$dir/vc.log")
        wait
        c=$(echo "$out" | awk '{print $2}')
        printf 'veth mtu %s run %s: iperf3 TCP %s Gb/s, cpn put (%s) %s Gb/s\n' "$mtu" "$r" "$i" "$pmd" "${c:-0}"
        ip3+=("${i:-0}"); cp+=("${c:-0}")
    done
    i=$(printf '%s\n' "${ip3[@]}" | median); c=$(printf '%s\n' "${cp[@]}" | median)
    printf 'VETH mtu %s (median of %s): iperf3 %s Gb/s | cpn put %s Gb/s ratio %s (target >= 1.0)\n' \
        "$mtu" "$reps" "$i" "$c" "$(ratio "$c" "$i")"
}

# Both ends in one thread, pinned to one CPU; median ns per data frame.
run_cost() {
    local kind v raw=() ver=() r
    for r in $(seq "$reps"); do
        for kind in raw verified; do
            v=$(CPN_DPDK_FILE_PREFIX=${tag}lp$r CPN_DPDK_LCORES='0@1' \
                $putb --role loop --total "$mib" \
                $([ $kind = verified ] && echo --verified) 2> "$dir/loop.log" |
                awk '{print $2}')
            printf 'cost mtu %s run %s %s: %s ns per frame\n' "$mtu" "$r" "$kind" "${v:-0}"
            if [ $kind = raw ]; then raw+=("${v:-0}"); else ver+=("${v:-0}"); fi
        done
    done
    printf 'COST mtu %s (median of %s): %s ns per frame, payload checksummed | %s ns per frame, into a verified region (both ends, one thread)\n' \
        "$mtu" "$reps" "$(printf '%s\n' "${raw[@]}" | median)" \
        "$(printf '%s\n' "${ver[@]}" | median)"
}

case "$what" in
memif) run_memif ;;
veth) run_veth ;;
loss) run_loss ;;
cost) run_cost ;;
all) run_memif; run_veth; run_loss; run_cost ;;
*) echo "usage: bench_dpdk.sh [memif|veth|loss|cost|all] [REPEATS]"; exit 2 ;;
esac
