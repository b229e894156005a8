#!/usr/bin/env bash
# clang-tidy with the checks in .clang-tidy (warnings are errors) over the project's C++
# sources, or over the files given. Uses the clang preset's compile database and builds that
# preset first: the precompiled header and the generated shader sources are inputs.
#   scripts/lint.sh [file...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
cmake --preset clang >/dev/null
cmake --build build-clang >/dev/null
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  mapfile -t files < <(git ls-files 'src/*.cpp' 'tools/*.cpp' 'tests/*.cpp' 'bench/*.cpp' 'python/*.cpp')
fi
status=0
for f in "${files[@]}"; do
  clang-tidy -p build-clang --quiet "$f" || status=1
done
[ "$status" -eq 0 ] && echo "lint: ${#files[@]} files clean"
exit "$status"
