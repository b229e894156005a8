#!/usr/bin/env bash
# The main job: installs dependencies, builds (release), lists the devices and runs the demo
# (a built-in clustered data set searched exactly on the GPU, checked against the CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)" --target vecaccel_cli
./build/tools/vecaccel info
./build/tools/vecaccel demo "$@"
