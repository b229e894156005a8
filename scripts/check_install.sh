#!/usr/bin/env bash
# Installs the built library into a scratch prefix and builds tests/consumer, an outside
# project (a built-in kernel, and examples/custom_shader dispatching its own SPIR-V), against it
# twice: with find_package(vecaccel) and with pkg-config (and vecaccel::mpi, run under mpirun,
# where the build has it); then the README's C++ snippets against
# it (those tagged `run` are run); then imports the installed Python package (where the build
# has one) and runs a search with it.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-dev}
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
cmake -S tests/consumer -B "$prefix/consumer-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/consumer-build" >/dev/null
"$prefix/consumer-build/consumer"
"$prefix/consumer-build/custom_shader" "$prefix/consumer-build/axpy.spv"
if [ -x "$prefix/consumer-build/consumer_mpi" ]; then
  # Open MPI refuses root without these (CI containers run as root); --oversubscribe: 2 ranks
  # on fewer cores.
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 \
    mpirun -np 2 --oversubscribe "$prefix/consumer-build/consumer_mpi"
fi
pc_flags=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs --static vecaccel)
# shellcheck disable=SC2086 # the flags are words
c++ tests/consumer/main.cpp $pc_flags -o "$prefix/consumer-pc"
"$prefix/consumer-pc"
# shellcheck disable=SC2086
c++ examples/custom_shader.cpp $pc_flags -o "$prefix/custom-shader-pc"
glslc --target-env=vulkan1.3 -o "$prefix/axpy.spv" examples/axpy.comp
"$prefix/custom-shader-pc" "$prefix/axpy.spv"
echo "consumer: find_package and pkg-config builds ran (built-in kernel and own SPIR-V)"
# The README's C++ and GLSL blocks, as written there (scripts/check_docs.py extracts them):
# each built against the installed package; those tagged `run` run beside the README's shader.
snippets="$prefix/readme"
python3 scripts/check_docs.py --snippets "$snippets" >/dev/null
while read -r kind name spv; do
  case "$kind" in
    glslc) glslc --target-env=vulkan1.3 -o "$snippets/$spv" "$snippets/$name" ;;
    compile | run)
      # shellcheck disable=SC2086
      c++ -Itests/consumer "$snippets/$name" $pc_flags -o "$snippets/${name%.cpp}"
      if [ "$kind" = run ]; then (cd "$snippets" && "./${name%.cpp}"); fi ;;
  esac
done <"$snippets/snippets.txt"
echo "consumer: the README's snippets built against the installed package ($(grep -c '^run' "$snippets/snippets.txt") ran)"
python_dir=$(sed -n 's/^VECACCEL_PYTHON_INSTALL_DIR:[A-Z]*=//p' "$build/CMakeCache.txt")
if [ -n "$python_dir" ] && grep -q '^VECACCEL_BUILD_PYTHON:BOOL=ON' "$build/CMakeCache.txt"; then
  (cd "$prefix" && PYTHONPATH="$prefix/$python_dir" /usr/bin/python3 -c "
import vecaccel
assert vecaccel.__file__.startswith('$prefix'), vecaccel.__file__
index = vecaccel.FlatIndex(2)
index.add([[0, 0], [1, 1], [5, 5]])
assert index.search([[0.9, 0.9]], 2)[1].tolist() == [[1, 0]]
print('consumer: the installed Python package searched, from', vecaccel.__file__)")
fi
