#!/usr/bin/env bash
# Runs `bench:gpu` on a GPU machine from the folder holding payload.tar.xz (scripts/gpu-payload.sh)
# and, for webgpu, gl/ with Debian's Vulkan loader packages (apt-get download libvulkan1 ...).
# Needs python3 with torch; writes gpu.json, the log and nvidia-smi's view to $OUT (default ./out).
#
#   OUT=/some/dir bash gpu-check.sh [bench:gpu options, e.g. --quick or --device cuda:1]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$here/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/nvidia-smi.txt" 2>&1
if [ -d "$here/gl" ]; then
  for f in "$here"/gl/*.deb; do dpkg -x "$f" / 2>/dev/null; done
  ldconfig 2>/dev/null
  export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
  # NVIDIA's Vulkan driver manifest, where containers put it.
  for icd in /usr/share/vulkan/icd.d/nvidia_icd.json /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json \
    /etc/vulkan/icd.d/nvidia_icd.json; do
    [ -f "$icd" ] && export VK_DRIVER_FILES=$icd && break
  done
fi
work=$(mktemp -d)
tar xJf "$here/payload.tar.xz" -C "$work"
cd "$work/p" || exit 1
data=()
[ -d data/cifar10-subset ] && data=(--data-dir data/cifar10-subset)
CYCLESPARSE_PYTHON=${CYCLESPARSE_PYTHON:-python3} timeout 900 ./bin/node benchmarks/gpu.mjs \
  "${data[@]}" --out "$OUT/gpu.json" "$@" 2> "$OUT/log.txt"
status=$?
echo "exit $status" >> "$OUT/log.txt"
tail -30 "$OUT/log.txt"
exit $status
