#!/usr/bin/env bash
# `pip install --no-build-isolation .` in a fresh virtual environment (Debian's numpy and
# setuptools through --system-site-packages), offline, then `import vecaccel` from another
# directory and one exact search. Usage: scripts/check_pip_install.sh [build tree to reuse]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 -m venv --system-site-packages "$work/venv"
export PIP_NO_INDEX=1 PIP_DISABLE_PIP_VERSION_CHECK=1 VECACCEL_PIP_WORK_DIR="$work"
if [ $# -ge 1 ]; then export VECACCEL_BUILD_DIR="$1"; fi
"$work/venv/bin/python" -m pip install --no-build-isolation --quiet "$root"
cd "$work"
"$work/venv/bin/python" - <<'PY'
import numpy as np
import vecaccel

assert "/venv/" in vecaccel.__file__, vecaccel.__file__
x = np.array([[0, 0], [1, 0], [5, 5]], dtype=np.float32)
D, I = vecaccel.knn(x, x[:1] + 0.25, 2)
assert I.tolist() == [[0, 1]], I
print("pip install: vecaccel", vecaccel.__version__, "from", vecaccel.__file__)
PY
