#!/usr/bin/env bash
# Lays out the clusterdns image's root filesystem in ROOTFS: the binary without its debug
# information, exactly the shared libraries it links (as `ldd` resolves them), the file
# capability that lets uid 65532 bind port 53, and the users. deploy/build-image.sh and
# deploy/Dockerfile both call it, so the two images hold the same files.
#
#   deploy/image/stage-rootfs.sh BINARY ROOTFS
#
# Needs root (setcap writes the security.capability attribute), ldd (libc-bin), strip
# (binutils) and setcap (libcap2-bin).
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BINARY ROOTFS" >&2
  exit 64
fi
binary=$1
rootfs=$2
for tool in ldd strip setcap; do
  command -v "$tool" >/dev/null || { echo "error: $tool is missing (Debian: libc-bin, binutils, libcap2-bin)" >&2; exit 1; }
done
[ -x "$binary" ] || { echo "error: $binary is not an executable file" >&2; exit 1; }

install -d -m 0755 "$rootfs/usr/local/bin" "$rootfs/etc"
target="$rootfs/usr/local/bin/clusterdns"
# Debug information goes (most of the release binary's size); the symbol table stays, so a
# panic's backtrace still names functions.
strip --strip-debug -o "$target" "$binary"
chmod 0755 "$target"

# The dynamic loader and every library it maps, at the paths it looks for them. A statically
# linked binary has none.
if ldd "$binary" >/dev/null 2>&1; then
  ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u |
    while read -r library; do
      install -d -m 0755 "$rootfs$(dirname "$library")"
      cp -L "$library" "$rootfs$library"
    done
fi

# The non-root user the pod runs as (65532, the distroless "nonroot"), for tools that map ids.
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
  >"$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' >"$rootfs/etc/group"

# Readable (and where executable, executable) by everyone, whatever the umask: uid 65532 runs
# it, and the kernel needs execute permission on the dynamic loader too.
chmod -R u+rwX,go+rX,go-w "$rootfs"

# A container runtime gives a non-root process no effective capability unless the binary
# carries it: Kubernetes sets no ambient capabilities. With this, the pod's
# `capabilities: {add: [NET_BIND_SERVICE]}` lets clusterdns bind port 53 as uid 65532.
setcap cap_net_bind_service=+ep "$target"
