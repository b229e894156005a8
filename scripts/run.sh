#!/usr/bin/env bash
# The main job: installs dependencies, builds (release) and runs `vecaccel info`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)" --target vecaccel_cli
./build/tools/vecaccel info "$@"
