#!/usr/bin/env bash
# Builds the clusterdns container image without pulling anything, and writes it as an OCI image
# layout (a directory that skopeo copies to any registry, and that podman and containerd
# import) tagged with the crate version. The image is the one deploy/Dockerfile describes: the stripped release binary with
# cap_net_bind_service=+ep, the libraries it links, user 65532:65532.
#
#   deploy/build-image.sh [--binary PATH] [OUT]
#
# OUT defaults to target/oci. Without --binary the release binary is built first (cargo skips
# that when it is up to date). Push it with
#   skopeo copy oci:target/oci:VERSION docker://REGISTRY/clusterdns:VERSION
# Needs root (the file capability is a security attribute), umoci, ldd, strip and setcap
# (Debian: umoci, libc-bin, binutils, libcap2-bin). Set CLUSTERDNS_IMAGE_SOURCE to the source
# repository's URL for the org.opencontainers.image.source label (default: git's origin).
set -euo pipefail

usage() {
  sed -n 's/^#   //p' "$0" | head -1 >&2
  exit 64
}

repo=$(cd "$(dirname "$0")/.." && pwd)
binary=""
out=""
while [ $# -gt 0 ]; do
  case $1 in
    --binary) [ $# -ge 2 ] || usage; binary=$2; shift 2 ;;
    --binary=*) binary=${1#--binary=}; shift ;;
    -h | --help) sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) echo "error: unknown option $1" >&2; usage ;;
    *) [ -z "$out" ] || usage; out=$1; shift ;;
  esac
done
out=${out:-$repo/target/oci}

if [ "$(id -u)" != 0 ]; then
  echo "error: run as root (e.g. sudo $0): setcap writes the binary's security.capability attribute" >&2
  exit 1
fi
command -v umoci >/dev/null || { echo "error: umoci is missing (Debian: apt-get install umoci)" >&2; exit 1; }

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$repo/Cargo.toml" | head -1)
if [ -z "$binary" ]; then
  if ! command -v cargo >/dev/null; then
    echo "error: cargo is not on root's PATH; build first, then pack that binary:" >&2
    echo "  cargo build --release && sudo $0 --binary target/release/clusterdns" >&2
    exit 1
  fi
  (cd "$repo" && cargo build --release --locked --bin clusterdns)
  binary=$repo/target/release/clusterdns
fi
revision=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)
if [ "$revision" != unknown ] && [ -n "$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  revision="$revision-dirty"
fi
source=${CLUSTERDNS_IMAGE_SOURCE:-$(git -C "$repo" remote get-url origin 2>/dev/null || true)}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
image="$out:$version"
umoci init --layout "$out"
umoci new --image "$image"
umoci unpack --image "$image" "$work/bundle" >/dev/null
"$repo/deploy/image/stage-rootfs.sh" "$binary" "$work/bundle/rootfs"
umoci repack --image "$image" --history.created_by "deploy/image/stage-rootfs.sh" "$work/bundle"

# Keep in step with deploy/Dockerfile (tests/integration/image.rs compares the two).
labels=(
  --config.label "org.opencontainers.image.title=clusterdns"
  --config.label "org.opencontainers.image.description=Kubernetes cluster DNS server"
  --config.label "org.opencontainers.image.licenses=Apache-2.0"
  --config.label "org.opencontainers.image.version=$version"
  --config.label "org.opencontainers.image.revision=$revision"
  --config.label "org.opencontainers.image.source=$source"
)
[ -n "$source" ] || echo "note: org.opencontainers.image.source is empty (no git origin; set CLUSTERDNS_IMAGE_SOURCE)" >&2
umoci config --image "$image" \
  --config.user 65532:65532 \
  --config.entrypoint /usr/local/bin/clusterdns \
  --config.workingdir / \
  --config.exposedports 53/udp --config.exposedports 53/tcp --config.exposedports 9153/tcp \
  --config.stopsignal SIGTERM \
  "${labels[@]}" \
  --history.created_by "umoci config (deploy/build-image.sh)"
umoci gc --layout "$out"

layers=$(du -cb "$out"/blobs/sha256/* | tail -1 | cut -f1)
rootfs=$(du -sb "$work/bundle/rootfs" | cut -f1)
echo "built clusterdns:$version (revision $revision) in $out"
echo "image size: $layers bytes compressed, $rootfs bytes unpacked"
echo "push: skopeo copy oci:$out:$version docker://REGISTRY/clusterdns:$version"
