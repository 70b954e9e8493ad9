#!/usr/bin/env bash
# Prepare what the GPU check carries to the device machine (run here, with network to PyPI).
#
#   benchmarks/device/prepare.sh [--datasets mnist[,fashion_mnist]] [--dir .whl]
#   benchmarks/device/prepare.sh --check [--dir .whl]     # the carry budget only, no network
#
# Downloads the cp312 manylinux x86-64 wheels the device machine lacks (ray 2.60.0 and its
# missing needs, pydantic, thop: benchmarks/device/bundle.py's MISSING) into .whl-cache/,
# copies them to .whl/ (ray repacked: no Java jar, no dashboard web build, no tests, LZMA;
# 79 MB -> ~33 MB), copies the IDX files of the datasets into .whl/data/, then prints the carry
# budget and the plan (one call, or two). Both folders are ignored by git.
set -euo pipefail
cd "$(dirname "$0")/../.."
action=download
if [ "${1:-}" = "--check" ]; then action=check; shift; fi
exec python3 -m benchmarks.device.bundle "$action" "$@"
