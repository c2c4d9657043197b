#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# install-deps.sh: install everything a fresh Debian 12 (bookworm) machine
# needs to build, test and benchmark cpn. Idempotent: packages already
# installed are skipped quietly, and when nothing is missing apt is not
# touched at all (no network, no root needed). Runs as root (CI) or through
# sudo. Prints what it does.
#
# Usage: scripts/install-deps.sh
set -euo pipefail

packages=(
    build-essential     # gcc, make, libc headers, libasan/libubsan for gcc
    meson
    ninja-build
    pkg-config
    libucx-dev          # the UCX transport (UCP)
    ucx-utils           # ucx_perftest, ucx_info: the reference for benchmarks
    libxxhash-dev       # XXH3 integrity checks
    libjansson-dev      # receipts and bench output as JSON
    libcriterion-dev    # the test suite
    clang               # second compiler, sanitizer builds
    libclang-rt-14-dev  # clang's ASan/UBSan runtimes, libFuzzer (scripts/fuzz.sh)
    libsodium-dev       # site authentication in HELLO (Ed25519 signatures)
    iproute2            # ip: loopback and veth test setups
    libdpdk-dev         # the DPDK transport (EAL, ethdev, memif/af_packet/ring PMDs)
    dpdk                # dpdk-testpmd, dpdk-devbind.py: the DPDK reference and NIC binding
    iperf3              # the TCP reference for the DPDK veth benchmark
    tcpdump             # test dpdk_task_pcap: cpn's frames as IPv4/UDP on the wire
    tshark              # ... and as wireshark dissects them
    procps              # ps, free, sysctl
    iperf3              # cpn bench: the kernel-TCP reference
    gnuplot-nox         # cpn report: charts (SVG terminal)
    chromium            # the report test: headless render and screenshot
    openmpi-bin         # the bench test under mpirun
    libibverbs-dev      # the verbs transport (RC queue pairs)
    librdmacm-dev       # the verbs transport's connection set-up (rdma_cm)
    rdma-core           # rdma tool, udev rules for RDMA devices
    ibverbs-providers   # user-space drivers (rxe for Soft-RoCE, mlx5, ...)
    ibverbs-utils       # ibv_devinfo: what `cpn info` is checked against
    rdmacm-utils        # rping, for diagnosing rdma_cm set-ups
    perftest            # ib_write_bw/ib_write_lat: the verbs bench reference
    qemu-system-x86     # suite rxe: a Soft-RoCE guest (tests/rxe)
    busybox-static      # suite rxe: the guest's userland
    cpio                # suite rxe: the guest's initramfs
    kmod                # suite rxe: depmod for the guest kernel's modules
    xz-utils            # suite rxe: unpacking the guest kernel
)

say() { printf 'install-deps: %s\n' "$*"; }

installed() {
    # "install ok installed" only for a package that is fully installed.
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'
}

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    say "this is not a Debian-like system (no dpkg/apt-get);"
    say "install these packages (or their equivalents) by hand: ${packages[*]}"
    exit 1
fi

missing=()
for p in "${packages[@]}"; do
    if ! installed "$p"; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    say "all ${#packages[@]} packages are installed already"
    exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        as_root=(sudo)
    else
        say "missing: ${missing[*]}"
        say "not root and no sudo: install them as root and run this again"
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
say "missing: ${missing[*]}"
say "running: apt-get update"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
say "running: apt-get install -y --no-install-recommends ${missing[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends "${missing[@]}" </dev/null

still=()
for p in "${missing[@]}"; do
    installed "$p" || still+=("$p")
done
if [ "${#still[@]}" -ne 0 ]; then
    say "still not installed: ${still[*]}"
    exit 1
fi
say "installed ${#missing[@]} package(s)"
