#!/usr/bin/env bash
# Installs the built library into a scratch prefix and builds tests/consumer, an outside
# project, against it twice: with find_package(vecaccel) and with pkg-config.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-dev}
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
cmake -S tests/consumer -B "$prefix/consumer-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/consumer-build" >/dev/null
"$prefix/consumer-build/consumer"
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" \
  c++ tests/consumer/main.cpp $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs --static vecaccel) \
  -o "$prefix/consumer-pc"
"$prefix/consumer-pc"
echo "consumer: find_package and pkg-config builds ran"
