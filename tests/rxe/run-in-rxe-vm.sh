#!/bin/bash
# Adapted for cpn from ../shared/rxe-vm (suite rxe): cache under
# ~/.cache/cpnverbs-rxevm, RXEVM_NO_INSTALL, exit 3 when it cannot run.
#
# run-in-rxe-vm.sh - run a command inside a throw-away QEMU guest that has
# Soft-RoCE (rdma_rxe) devices up, print the command's output, and exit with
# the command's exit status.
#
# Usage:  run-in-rxe-vm.sh 'GUEST SHELL COMMAND' [EXTRA_DIR]
#
#   GUEST SHELL COMMAND  run by /bin/bash inside the guest, cwd=/extra
#                        (or / when no EXTRA_DIR), stdout+stderr -> our stdout.
#   EXTRA_DIR            copied to /extra in the guest (recursively); shared
#                        libraries needed by ELF files in it are copied too.
#                        /extra, /extra/bin are on PATH; /extra, /extra/lib on
#                        LD_LIBRARY_PATH. Busybox applets are in /bb (last on
#                        PATH); real ip/rdma/bash/perftest/ibverbs-utils/
#                        rdmacm-utils come from the host.
#
# Guest network/RDMA layout (set up before the command runs):
#   veth0 10.77.0.1/24 <-> veth1 10.77.0.2/24 (same netns), lo up
#   rxe0 on veth0 (rdma link add rxe0 type rxe netdev veth0)
#   env: RXE0_IP=10.77.0.1, RXE0_GID = index of rxe0's RoCEv2 IPv4 GID
#   Run server AND client on rxe0 (rxe loops the packets back internally).
#   A 2nd rxe on veth1 in the same netns does NOT work on this 6.1 kernel
#   (client "Failed to modify QP to RTR"; rdma_cm ADDR_ERROR -110).
#
# Environment knobs:
#   RXEVM_DIR      cache/work dir              (default /tmp/rxevm)
#   RXEVM_ACCEL    auto|kvm|tcg                (default auto; auto picks tcg when
#                  /dev/kvm is missing or is backed by kvm_pvm, which cannot run
#                  a stock Debian kernel)
#   RXEVM_MEM      guest MiB                   (default 2048)
#   RXEVM_SMP      guest vCPUs                 (default 2)
#   RXEVM_TIMEOUT  seconds before qemu is killed (default 900)
#   RXEVM_KPKG     kernel package (default: what linux-image-amd64 depends on)
#   RXEVM_VERBOSE  1 = also dump the guest kernel console log to stderr
#
# Exit status: the guest command's status; 124 = timeout; 125 = guest never
# reported a status (boot/setup failure; console log is dumped to stderr);
# 3 = cannot run here (host packages missing with RXEVM_NO_INSTALL=1, or
# no guest kernel to download).
set -euo pipefail

CMD=${1:?usage: $0 'guest command' [extra_dir]}
EXTRA=${2:-}
W=${RXEVM_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cpnverbs-rxevm}
ACCEL=${RXEVM_ACCEL:-auto}
MEM=${RXEVM_MEM:-2048}
SMP=${RXEVM_SMP:-2}
TMO=${RXEVM_TIMEOUT:-900}
KPKG=${RXEVM_KPKG:-}
VERBOSE=${RXEVM_VERBOSE:-0}
T_START=$(date +%s.%N)
log() { echo "rxevm: $*" >&2; }

[ -z "$EXTRA" ] || [ -d "$EXTRA" ] || { log "EXTRA_DIR $EXTRA is not a directory"; exit 2; }
mkdir -p "$W"

# ---------------------------------------------------------------- host deps
need_pkgs=()
command -v qemu-system-x86_64 >/dev/null || need_pkgs+=(qemu-system-x86)
{ [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || need_pkgs+=(busybox-static)
command -v cpio   >/dev/null || need_pkgs+=(cpio)
command -v depmod >/dev/null || need_pkgs+=(kmod)
command -v xz     >/dev/null || need_pkgs+=(xz-utils)
for b in ibv_devinfo ib_write_bw rping rdma; do command -v $b >/dev/null || need_pkgs+=(ibverbs-utils perftest rdmacm-utils iproute2 ibverbs-providers); done
if [ ${#need_pkgs[@]} -gt 0 ] && [ "${RXEVM_NO_INSTALL:-0}" = 1 ]; then
  log "missing host packages: ${need_pkgs[*]}"; exit 3
fi
if [ ${#need_pkgs[@]} -gt 0 ]; then
  log "installing host packages: ${need_pkgs[*]}"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need_pkgs[@]}" | sort -u) >&2
fi

# ---------------------------------------------------------------- kernel
if [ -z "$KPKG" ]; then
  KPKG=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  [ -n "$KPKG" ] || { apt-get update -qq >&2; KPKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}'); }
  [ -n "$KPKG" ] || { log "apt knows no linux-image-amd64: cannot fetch a guest kernel"; exit 3; }
fi
KD=$W/kernel/$KPKG
if [ ! -e "$KD/.ok" ]; then
  log "fetching $KPKG"
  mkdir -p "$W/kernel/debs" "$KD"
  ( cd "$W/kernel/debs" && apt-get download -q "$KPKG" >&2 2>&1 ) || { apt-get update -qq >&2; ( cd "$W/kernel/debs" && apt-get download -q "$KPKG" >&2 ); } ||
    { log "cannot download the guest kernel $KPKG (apt-get download failed: no network or no apt source?)"; exit 3; }
  dpkg -x "$(ls -t "$W"/kernel/debs/"${KPKG}"_*.deb | head -1)" "$KD"
  KVER=$(ls "$KD/lib/modules" | head -1)
  depmod -b "$KD" "$KVER"
  grep -q '^CONFIG_RDMA_RXE=[ym]' "$KD/boot/config-$KVER" || { log "$KPKG has no CONFIG_RDMA_RXE"; exit 2; }
  # Uncompressed ELF vmlinux for QEMU's PVH direct boot: under TCG this skips
  # ~5 s of in-guest xz decompression (Debian kernels: CONFIG_KERNEL_XZ, CONFIG_PVH).
  off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$KD/boot/vmlinuz-$KVER" | head -1 | cut -d: -f1 || true)
  if [ -n "$off" ]; then
    tail -c +$((off+1)) "$KD/boot/vmlinuz-$KVER" | xz -dc 2>/dev/null > "$KD/boot/vmlinux-$KVER" || true
    [ "$(head -c4 "$KD/boot/vmlinux-$KVER" | od -An -c | tr -d ' ')" = '177ELF' ] || rm -f "$KD/boot/vmlinux-$KVER"
  fi
  touch "$KD/.ok"
fi
KVER=$(ls "$KD/lib/modules" | head -1)
VMLINUZ=$KD/boot/vmlinuz-$KVER
[ -s "$KD/boot/vmlinux-$KVER" ] && VMLINUZ=$KD/boot/vmlinux-$KVER
MODDIR=$KD/lib/modules/$KVER

# ---------------------------------------------------------------- base initramfs (cached)
# Modules wanted (dependencies are resolved from modules.dep and loaded first).
# crc32_generic: rdma_rxe does crypto_alloc_shash("crc32") (no softdep declared).
WANT_MODS="crc32_generic crc32-pclmul veth ib_core ib_uverbs rdma_rxe ib_umad rdma_ucm"
SELF_SUM=$(sha256sum "$0" | cut -c1-16)
BASE=$W/base-$KVER-$SELF_SUM.cpio.gz
if [ ! -e "$BASE" ]; then
  log "building base initramfs $BASE"
  R=$(mktemp -d "$W/root.XXXXXX")
  mkdir -p "$R"/usr/{bin,sbin,lib/x86_64-linux-gnu,lib64} "$R"/{etc,proc,sys,dev,tmp,run,root,extra,var}
  ln -s usr/bin "$R/bin"; ln -s usr/sbin "$R/sbin"; ln -s usr/lib "$R/lib"; ln -s usr/lib64 "$R/lib64"
  cp /bin/busybox "$R/usr/bin/busybox"
  # modules, in dependency order
  declare -A seen=(); order=()
  addmod() {
    local m=$1 f d
    f=$(modinfo -b "$KD" -k "$KVER" -F filename "$m" 2>/dev/null | head -1) || true
    [ -n "$f" ] || { log "module $m not found, skipped"; return 0; }
    [ -n "${seen[$f]:-}" ] && return 0
    seen[$f]=1
    for d in $(modinfo -b "$KD" -k "$KVER" -F depends "$m" | tr ',' ' '); do addmod "$d"; done
    order+=("$f")
  }
  for m in $WANT_MODS; do addmod "$m"; done
  mkdir -p "$R/lib/modules/$KVER"
  : > "$R/etc/rxevm-modules"
  for f in "${order[@]}"; do cp "$f" "$R/lib/modules/$KVER/"; echo "$(basename "$f")" >> "$R/etc/rxevm-modules"; done
  # userspace tools + the rxe provider
  BINS="$(dpkg -L ibverbs-utils perftest rdmacm-utils | grep -E '^/usr/bin/[^/]+$') $(command -v rdma) /bin/ip /bin/bash /usr/bin/timeout"
  # librxe is dlopen()ed by libibverbs, libgcc_s by glibc's pthread_exit/cancel
  LIBS="$(ls /usr/lib/x86_64-linux-gnu/libibverbs/librxe-rdmav*.so) /usr/lib/x86_64-linux-gnu/libgcc_s.so.1"
  for b in $BINS $LIBS; do [ -f "$b" ] && cp -L --parents "$b" "$R"; done
  mkdir -p "$R/etc/libibverbs.d"; cp /etc/libibverbs.d/rxe.driver "$R/etc/libibverbs.d/"
  for b in $BINS $LIBS; do
    ldd "$b" 2>/dev/null | grep -oE '/[^ ]+\.so[^ ]*' || true
  done | sort -u | while read -r l; do cp -L --parents "$l" "$R" 2>/dev/null || true; done
  cat > "$R/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
EOF
  echo 'root:x:0:' > "$R/etc/group"
  printf '127.0.0.1 localhost\n::1 localhost\n10.77.0.1 rxe0-host\n10.77.0.2 rxe1-host\n' > "$R/etc/hosts"
  printf 'passwd: files\ngroup: files\nhosts: files\n' > "$R/etc/nsswitch.conf"
  cat > "$R/init" <<'EOF'
#!/bin/busybox sh
mkdir -p /bb; /bin/busybox --install -s /bb
export PATH=/extra:/extra/bin:/usr/sbin:/usr/bin:/bb HOME=/root
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm; mount -t tmpfs tmp /tmp; mount -t tmpfs shm /dev/shm
say() { echo "rxevm-guest: $*"; }            # -> ttyS0 (kernel console log)
T0=$(cut -d' ' -f1 /proc/uptime); say "init start uptime=$T0"
KV=$(uname -r)
for m in $(cat /etc/rxevm-modules); do
  insmod /lib/modules/$KV/$m || say "insmod $m FAILED"
done
# NB: Debian's busybox sh prefers its own applets (ip, stty, ...) over PATH,
# so real iproute2 tools are called by absolute path here.
IP=/usr/bin/ip
$IP link set lo up
$IP link add veth0 type veth peer name veth1
$IP addr add 10.77.0.1/24 dev veth0; $IP addr add 10.77.0.2/24 dev veth1
$IP link set veth0 up; $IP link set veth1 up
/usr/bin/rdma link add rxe0 type rxe netdev veth0 || say "rdma link add rxe0 FAILED"
# find index of the RoCEv2 IPv4-mapped GID (wait until it shows up)
gid4() { for g in /sys/class/infiniband/$1/ports/1/gids/*; do
  i=${g##*/}; v=$(cat $g 2>/dev/null) || continue
  case "$v" in 0000:0000:0000:0000:0000:ffff:*) t=$(cat /sys/class/infiniband/$1/ports/1/gid_attrs/types/$i 2>/dev/null)
    [ "$t" = "RoCE v2" ] && { echo $i; return 0; };; esac; done; return 1; }
n=0; while :; do
  RXE0_GID=$(gid4 rxe0) && \
  [ "$(cat /sys/class/infiniband/rxe0/ports/1/state 2>/dev/null)" = "4: ACTIVE" ] && break
  n=$((n+1)); [ $n -gt 100 ] && { say "rxe GIDs/ports not ready"; break; }; sleep 0.1
done
export RXE0_IP=10.77.0.1 RXE0_GID LD_LIBRARY_PATH=/extra:/extra/lib
stty -F /dev/ttyS1 raw -echo 2>/dev/null
T1=$(cut -d' ' -f1 /proc/uptime); say "setup done uptime=$T1 RXE0_GID=$RXE0_GID"
cd /extra 2>/dev/null || cd /
/bin/bash /etc/rxevm-cmd </dev/null >/dev/ttyS1 2>&1
rc=$?
T2=$(cut -d' ' -f1 /proc/uptime); say "command done uptime=$T2"
echo "RXEVM_TIMES setup_start=$T0 setup_done=$T1 cmd_done=$T2"
echo "RXEVM_RC=$rc"
sync
poweroff -f
EOF
  chmod 755 "$R/init"
  ( cd "$R" && find . | cpio -o -H newc --quiet | gzip -1 ) > "$BASE.tmp.$$" && mv "$BASE.tmp.$$" "$BASE"
  rm -rf "$R"
fi

# ---------------------------------------------------------------- per-run overlay cpio
RUN=$(mktemp -d "$W/run.XXXXXX")
trap 'rm -rf "$RUN"' EXIT
O=$RUN/overlay; mkdir -p "$O/etc" "$O/extra"
printf '%s\n' "$CMD" > "$O/etc/rxevm-cmd"
if [ -n "$EXTRA" ]; then
  cp -a "$EXTRA"/. "$O/extra/"
  find "$O/extra" -type f | while read -r f; do
    head -c4 "$f" 2>/dev/null | grep -q 'ELF' || continue
    LD_LIBRARY_PATH="$EXTRA:$EXTRA/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd "$f" 2>/dev/null | grep -oE '/[^ ]+\.so[^ ]*' || true
  done | sort -u | while read -r l; do
    case "$l" in "$EXTRA"/*) continue;; esac
    mkdir -p "$O/usr/lib/x86_64-linux-gnu"
    cp -L --parents "$l" "$O" 2>/dev/null || true
  done
  # keep /lib,/lib64 as symlinks in the base: move anything copied under them
  for d in lib lib64; do [ -d "$O/$d" ] && { mkdir -p "$O/usr/$d"; cp -a "$O/$d"/. "$O/usr/$d/"; rm -rf "${O:?}/$d"; }; done
fi
( cd "$O" && find . | cpio -o -H newc --quiet | gzip -1 ) > "$RUN/overlay.cpio.gz"
cat "$BASE" "$RUN/overlay.cpio.gz" > "$RUN/initrd.gz"

# ---------------------------------------------------------------- accel
if [ "$ACCEL" = auto ]; then
  if [ -c /dev/kvm ] && [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then ACCEL=kvm; else ACCEL=tcg; fi
fi
case "$ACCEL" in
  kvm) ACCEL_ARGS=(-accel kvm -cpu host) ;;
  tcg) ACCEL_ARGS=(-accel tcg,thread=multi -cpu max) ;;
  *) log "bad RXEVM_ACCEL=$ACCEL"; exit 2 ;;
esac

# ---------------------------------------------------------------- boot
T_BOOT=$(date +%s.%N)
set +e
timeout -k 5 "$TMO" qemu-system-x86_64 "${ACCEL_ARGS[@]}" -m "$MEM" -smp "$SMP" \
  -nodefaults -no-user-config -display none -no-reboot -nic none \
  -kernel "$VMLINUZ" -initrd "$RUN/initrd.gz" \
  -append "console=ttyS0 quiet panic=-1 mitigations=off" \
  -serial "file:$RUN/console.log" \
  -chardev stdio,id=out,signal=off -serial chardev:out </dev/null
QRC=$?
set -e
T_END=$(date +%s.%N)
RC=$(grep -a -o 'RXEVM_RC=[0-9]*' "$RUN/console.log" | tail -1 | cut -d= -f2 || true)
TIMES=$(grep -a 'RXEVM_TIMES' "$RUN/console.log" | tail -1 | tr -d '\r' || true)
if [ "$VERBOSE" = 1 ] || [ -z "$RC" ]; then
  log "---- guest console (ttyS0) ----"; tr -d '\r' < "$RUN/console.log" | grep -av RXEVM_ >&2; log "----"
fi
grep -a 'FAILED\|not ready' "$RUN/console.log" | tr -d '\r' | sed 's/^/rxevm: /' >&2 || true
dt() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b-a}'; }
log "accel=$ACCEL kernel=$KVER qemu_rc=$QRC prep=$(dt $T_START $T_BOOT)s vm_wall=$(dt $T_BOOT $T_END)s total=$(dt $T_START $T_END)s guest: ${TIMES#RXEVM_TIMES }"
if [ -z "$RC" ]; then
  [ "$QRC" = 124 ] && { log "timeout after ${TMO}s"; exit 124; }
  log "guest did not report an exit status"; exit 125
fi
exit "$RC"
