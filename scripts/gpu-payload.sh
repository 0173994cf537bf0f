#!/usr/bin/env bash
# Packs what `npm run bench:gpu` needs on a GPU machine that has Python + PyTorch but no Node and
# no network: this machine's Node binary, the built package (dist/), the PyTorch script, the
# benchmark scripts, the runtime packages the engines import (TF.js trimmed to each package's Node
# entry and its .wasm files), and the CIFAR-10 subset when it is beside the checkout. With
# WEBGPU=1 it also fetches webgpu (Dawn's prebuilt linux-x64 binary) and
# @tensorflow/tfjs-backend-webgpu from the npm registry, for the webgpu rows.
#
#   scripts/gpu-payload.sh OUT_DIR          -> OUT_DIR/payload.tar.xz (~35 MB) and OUT_DIR/gpu-check.sh
#
# On the GPU machine: `bash gpu-check.sh` beside payload.tar.xz (OUT sets where results go).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mkdir -p "$1" && cd "$1" && pwd)
stage=$(mktemp -d)
p=$stage/p
mkdir -p "$p/bin" "$p/benchmarks" "$p/node_modules/@tensorflow"

(cd "$root" && npx tsc -p tsconfig.build.json)
cp "$(readlink -f "$(command -v node)")" "$p/bin/node"
cp -r "$root/dist" "$p/dist"
find "$p/dist" \( -name '*.map' -o -name '*.d.ts' -o -name '*.test.js' \) -delete
cp -r "$root/python" "$p/python"
cp "$root/package.json" "$p/"
cp "$root/benchmarks/gpu.mjs" "$root/benchmarks/torch_step.py" "$p/benchmarks/"

# TF.js: each package's Node entry (one bundled file) and its .wasm binaries.
for pkg in "$root"/node_modules/@tensorflow/*; do
  name=$(basename "$pkg")
  main=$(node -e "console.log(require('$pkg/package.json').main)")
  mkdir -p "$p/node_modules/@tensorflow/$name/$(dirname "$main")"
  cp "$pkg/package.json" "$p/node_modules/@tensorflow/$name/"
  cp "$pkg/$main" "$p/node_modules/@tensorflow/$name/$main"
  cp "$pkg"/dist/*.wasm "$p/node_modules/@tensorflow/$name/dist/" 2>/dev/null || true
done
# What dist/ and the TF.js bundles import at run time (the rest of package.json's dependencies
# serve the CLI, reports and the queue, which a GPU check does not use).
for pkg in zod pure-rand seedrandom long node-fetch whatwg-url tr46 webidl-conversions \
  tar @isaacs/fs-minipass chownr minipass minizlib yallist; do
  if [ -d "$root/node_modules/$pkg" ]; then
    mkdir -p "$p/node_modules/$(dirname "$pkg")"
    cp -r "$root/node_modules/$pkg" "$p/node_modules/$pkg"
  fi
done

if [ "${WEBGPU:-0}" = 1 ]; then
  (cd "$stage" && npm install --no-save --no-package-lock --ignore-scripts --no-audit --no-fund \
    --prefix "$stage/webgpu" webgpu@0.6.2 @tensorflow/tfjs-backend-webgpu@4.22.0 >/dev/null)
  w=$stage/webgpu/node_modules
  mkdir -p "$p/node_modules/webgpu/dist/linux-x64" "$p/node_modules/@tensorflow/tfjs-backend-webgpu/dist"
  cp "$w/webgpu/package.json" "$w/webgpu/index.js" "$p/node_modules/webgpu/"
  cp "$w/webgpu/dist/linux-x64/dawn.node" "$p/node_modules/webgpu/dist/linux-x64/"
  [ -d "$w/@webgpu" ] && cp -r "$w/@webgpu" "$p/node_modules/@webgpu"
  wg=$w/@tensorflow/tfjs-backend-webgpu
  cp "$wg/package.json" "$p/node_modules/@tensorflow/tfjs-backend-webgpu/"
  main=$(node -e "console.log(require('$wg/package.json').main)")
  cp "$wg/$main" "$p/node_modules/@tensorflow/tfjs-backend-webgpu/$main"
fi

subset=$root/../shared/data/cifar10-subset
if [ -f "$subset/data_batch_1_first4000.bin" ]; then
  mkdir -p "$p/data/cifar10-subset"
  cp "$subset/data_batch_1_first4000.bin" "$p/data/cifar10-subset/"
fi

(cd "$stage" && tar cf - p | xz -T2 -6 > "$out/payload.tar.xz")
cp "$root/scripts/gpu-check.sh" "$out/gpu-check.sh"
rm -rf "$stage"
ls -la "$out/payload.tar.xz"
