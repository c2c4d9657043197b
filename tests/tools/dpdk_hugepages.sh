#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# dpdk_hugepages.sh: a cpn process that ran DPDK on hugepages gives every
# page back when it ends, whether it exits or is killed with SIGKILL: none
# of its hugepage files stays in the hugetlbfs mount, and the count of free
# pages comes back to what it was. (DPDK's EAL keeps those files by default,
# for secondary processes; cpn, one prefix per process, would otherwise
# hold a run's pages until someone deleted its files.)
#
#   exit     `cpn info` with the DPDK transport on hugepages
#   kill     `cpn serve --transport dpdk` on a memif port, its pages in use
#            while it runs, then SIGKILL
#
# Needs root: it reserves 96 more 2 MiB pages (and mounts hugetlbfs if
# nothing is mounted), and undoes both at the end. It counts the host's
# free hugepages, so nothing else should take any meanwhile (meson runs
# it alone: is_parallel false).
#
# Usage: dpdk_hugepages.sh   (CPN_CLI: the cpn binary)
# Exit 0 every page back; 1 failed; 77 skipped (say why).
set -euo pipefail

cli=${CPN_CLI:-$(dirname "$0")/../../build/tools/cpn/cpn}
tag=cpnhuge$$
dir=$(mktemp -d /tmp/${tag}.XXXXXX)
nr=/proc/sys/vm/nr_hugepages
serve_pid=
added=
mounted=

. "$(dirname "$0")/serve_lib.sh"
say() { printf 'dpdk_hugepages: %s\n' "$*" >&2; }
free_pages() { awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo; }

cleanup() {
    if [ -n "$serve_pid" ]; then
        kill -9 "$serve_pid" 2>/dev/null || true
        wait "$serve_pid" 2>/dev/null || true
    fi
    # give back what this script added, whatever else changed meanwhile
    [ -n "$added" ] && echo $(($(cat "$nr") - added)) > "$nr"
    [ -n "$mounted" ] && umount "$mounted" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ] || [ ! -w "$nr" ]; then
    say "SKIP: reserving hugepages needs root"
    exit 77
fi
mnt=$(awk '$3 == "hugetlbfs" { print $2; exit }' /proc/mounts)
if [ -z "$mnt" ]; then
    mkdir -p "$dir/huge"
    if ! mount -t hugetlbfs nodev "$dir/huge" 2>/dev/null; then
        say "SKIP: cannot mount hugetlbfs here"
        exit 77
    fi
    mounted=$dir/huge
    mnt=$mounted
fi
orig=$(cat "$nr")
echo $((orig + 96)) > "$nr"
added=$(($(cat "$nr") - orig))
before=$(free_pages)
if [ "$before" -lt 80 ]; then
    say "SKIP: the kernel gave only $before free hugepages (80 needed)"
    exit 77
fi

# left_behind PREFIX: hugepage files of that EAL prefix still in the mount
left_behind() { find "$mnt" -maxdepth 1 -name "$1*" | wc -l; }

# exit: a process that initialises the EAL on hugepages and ends
CPN_DPDK_HUGE=y CPN_DPDK_MEM=64M CPN_DPDK_VDEVS=net_null0 \
    CPN_DPDK_FILE_PREFIX=${tag}a CPN_LOG_LEVEL=info \
    "$cli" info > "$dir/info.log" 2>&1 || {
    say "FAIL: cpn info with the DPDK transport on hugepages:"
    cat "$dir/info.log" >&2
    exit 1
}
if ! grep -q "hugepages on" "$dir/info.log"; then
    say "FAIL: cpn info did not run DPDK on hugepages:"
    cat "$dir/info.log" >&2
    exit 1
fi
n=$(left_behind "${tag}a")
after=$(free_pages)
if [ "$n" -ne 0 ] || [ "$after" -lt "$before" ]; then
    say "FAIL: after cpn info exited, $n hugepage files of prefix ${tag}a" \
        "stayed in $mnt and $((before - after)) pages were not given back"
    exit 1
fi
say "exit: every hugepage back ($after free)"

# kill: a process holding hugepages, killed
start_serve "$dir" env CPN_DPDK_HUGE=y CPN_DPDK_MEM=128M \
    "CPN_DPDK_VDEVS=net_memif0,role=server,socket=$dir/m.sock,socket-abstract=no" \
    CPN_DPDK_PORTS=net_memif0@10.78.6.2 CPN_DPDK_FILE_PREFIX=${tag}b \
    "$cli" serve --transport dpdk --listen 10.78.6.2:7900 \
    --land "$dir/land" -q
during=$(free_pages)
if [ "$during" -ge "$before" ]; then
    say "FAIL: cpn serve runs DPDK but holds no hugepages ($during free," \
        "$before before)"
    exit 1
fi
kill -9 "$serve_pid"
wait "$serve_pid" 2>/dev/null || true
serve_pid=
for _ in $(seq 50); do
    [ "$(free_pages)" -ge "$before" ] && break
    sleep 0.1
done
n=$(left_behind "${tag}b")
after=$(free_pages)
if [ "$n" -ne 0 ] || [ "$after" -lt "$before" ]; then
    say "FAIL: after cpn serve was killed, $n hugepage files of prefix" \
        "${tag}b stayed in $mnt and $((before - after)) pages were not" \
        "given back"
    exit 1
fi
say "kill: $((before - during)) pages in use while it ran, every one back" \
    "($after free)"
exit 0
