#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# verbs_vs_perftest.sh: cpn's verbs put bandwidth and latency against
# perftest's ib_write_bw and ib_write_lat on the same RDMA device, sizes and
# iteration counts, in the same run; prints each pair and its ratio
# (cpn / perftest for bandwidth, perftest / cpn for latency: above 1 is
# better than the reference on both).
#
# Usage:
#   bench/verbs_vs_perftest.sh --host-device DEV [--ip IPV4] [--gid N]
#        [--sizes 4096,65536,1048576] [--bench PATH] [--bytes N]
#     on a host with a real RDMA NIC (server and client on one host and
#     device, as perftest's loopback runs do). IPV4 defaults to the first
#     IPv4 GID of DEV port 1, N to its RoCE v2 GID index (0 on InfiniBand).
#   bench/verbs_vs_perftest.sh --guest [--build DIR] [...]
#     boots the Soft-RoCE guest (tests/rxe) and runs the same inside it.
#     TCG-emulated: only the ratios mean anything.
# Needs: perftest (ib_write_bw, ib_write_lat), the cpn-bench-verbs binary
# (meson compile -C build; build/bench/cpn-bench-verbs).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
dev= ip= gid= guest=0 build=$here/../build bench=
sizes=4096,65536,1048576
lat_sizes=2,64,4096,65536
bytes=$((256 << 20))     # per bandwidth point; iterations = bytes / size
lat_iters=1000
while [ $# -gt 0 ]; do
    case $1 in
        --host-device) dev=$2; shift;;
        --ip) ip=$2; shift;;
        --gid) gid=$2; shift;;
        --sizes) sizes=$2; shift;;
        --lat-sizes) lat_sizes=$2; shift;;
        --bytes) bytes=$2; shift;;
        --lat-iters) lat_iters=$2; shift;;
        --bench) bench=$2; shift;;
        --build) build=$2; shift;;
        --guest) guest=1;;
        -h|--help) sed -n '3,22p' "$0"; exit 0;;
        *) echo "unknown argument $1" >&2; exit 2;;
    esac
    shift
done
bench=${bench:-$build/bench/cpn-bench-verbs}

if [ "$guest" = 1 ]; then
    [ -x "$bench" ] || { echo "no $bench: build first" >&2; exit 2; }
    extra=$(mktemp /tmp/cpnverbs-bench.XXXXXX.sh)
    trap 'rm -f "$extra"' EXIT
    cat > "$extra" <<EOS
bash /extra/verbs_vs_perftest.sh --host-device rxe0 --ip \$RXE0_IP --gid \$RXE0_GID \
  --bench /extra/cpn-bench-verbs --sizes $sizes --lat-sizes $lat_sizes \
  --bytes $((bytes / 8)) --lat-iters $((lat_iters / 4))
EOS
    # Only the bench, not the test suite: a guest of its own.
    CPN_RXE_ONLY_EXTRA=1 exec "$here/../tests/rxe/rxe-suite.sh" \
        "$build/tests/rxe/test_transport_verbs" "$build/tools/cpn/cpn" \
        "$extra" "$bench" "$0"
fi

[ -n "$dev" ] || { echo "--host-device DEV or --guest is required" >&2; exit 2; }
for b in ib_write_bw ib_write_lat; do
    command -v $b >/dev/null || { echo "$b not found: apt-get install perftest" >&2; exit 2; }
done
[ -x "$bench" ] || { echo "$bench not found: meson compile -C build" >&2; exit 2; }
P=/sys/class/infiniband/$dev/ports/1
[ -d "$P" ] || { echo "no RDMA device $dev (ibv_devices lists them)" >&2; exit 2; }
if [ -z "$gid" ] || [ -z "$ip" ]; then
    for g in "$P"/gids/*; do
        i=${g##*/}; v=$(cat "$g" 2>/dev/null) || continue
        case $v in 0000:0000:0000:0000:0000:ffff:*)
            t=$(cat "$P/gid_attrs/types/$i" 2>/dev/null || true)
            [ "$t" = "RoCE v2" ] || continue
            h=${v#0000:0000:0000:0000:0000:ffff:}; h=${h/:/}
            [ -n "$gid" ] || gid=$i
            [ -n "$ip" ] || ip=$(printf '%d.%d.%d.%d' 0x${h:0:2} 0x${h:2:2} 0x${h:4:2} 0x${h:6:2})
            break;;
        esac
    done
fi
[ -n "$ip" ] || { echo "no IPv4 address found on $dev: give --ip" >&2; exit 2; }
gid=${gid:-0}
export CPN_VERBS_DEVICE=$dev
echo "device $dev, GID index $gid, address $ip"
port=18777

perf() { # tool size iters -> the result line's fields
    local tool=$1 sz=$2 n=$3 out
    "$tool" -d "$dev" -x "$gid" -s "$sz" -n "$n" -p $port -F >/dev/null 2>&1 &
    local spid=$!
    sleep 1
    out=$("$tool" -d "$dev" -x "$gid" -s "$sz" -n "$n" -p $port -F "$ip" 2>&1) || true
    wait $spid 2>/dev/null || true
    port=$((port + 1))
    echo "$out" | awk -v s="$sz" '$1 == s && NF >= 4 {print; exit}'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

echo
printf '%-10s %8s %16s %16s %8s\n' size iters "ib_write_bw MB/s" "cpn put MB/s" ratio
IFS=, read -ra S <<<"$sizes"
for sz in "${S[@]}"; do
    n=$(( bytes / sz )); [ $n -lt 100 ] && n=100; [ $n -gt 100000 ] && n=100000
    ref=$(perf ib_write_bw "$sz" "$n" | awk '{print $4}')
    cpn=$("$bench" --ip "$ip" --test bw --sizes "$sz" --iters "$n" --window 128 | awk '{print $3}')
    printf '%-10s %8s %16s %16s %8s\n' "$sz" "$n" "${ref:-?}" "${cpn:-?}" "$(ratio "${cpn:-0}" "${ref:-0}")"
    echo "RESULT bw $sz ref=${ref:-?} cpn=${cpn:-?} ratio=$(ratio "${cpn:-0}" "${ref:-0}")"
done
echo
printf '%-10s %8s %16s %16s %8s\n' size iters "ib_write_lat us" "cpn put us" "ref/cpn"
IFS=, read -ra S <<<"$lat_sizes"
for sz in "${S[@]}"; do
    ref=$(perf ib_write_lat "$sz" "$lat_iters" | awk '{print $5}')
    cpn=$("$bench" --ip "$ip" --test lat --sizes "$sz" --iters "$lat_iters" | awk '{print $3}')
    printf '%-10s %8s %16s %16s %8s\n' "$sz" "$lat_iters" "${ref:-?}" "${cpn:-?}" "$(ratio "${ref:-0}" "${cpn:-0}")"
    echo "RESULT lat $sz ref=${ref:-?} cpn=${cpn:-?} ratio=$(ratio "${ref:-0}" "${cpn:-0}")"
done
