"""Builds the vecaccel extension (python/src, the C++ library under it) with CMake for pip.

pyproject.toml holds the metadata; this file only adds the build step. The extension is the
CMake target vecaccel_python, built in a tree of its own under setuptools' build directory, or
in VECACCEL_BUILD_DIR when set (a tree already configured with the Python package on: nothing
is rebuilt that is up to date there).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        tree = os.environ.get("VECACCEL_BUILD_DIR")
        build = Path(tree).resolve() if tree else Path(self.build_temp).resolve() / "cmake"
        if not (build / "CMakeCache.txt").exists():
            subprocess.run(
                [
                    "cmake", "-S", str(ROOT), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                    "-DVECACCEL_BUILD_TESTS=OFF", "-DVECACCEL_BUILD_BENCH=OFF",
                    "-DVECACCEL_BUILD_TOOLS=OFF", "-DVECACCEL_BUILD_PYTHON=ON",
                    f"-DPython3_EXECUTABLE={sys.executable}",
                ],
                check=True,
            )
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(os.cpu_count() or 2)
        subprocess.run(
            ["cmake", "--build", str(build), "--target", "vecaccel_python", "-j", jobs], check=True
        )
        built = sorted((build / "python" / "vecaccel").glob("_vecaccel*.so"))
        if not built:
            sys.exit(f"vecaccel: the CMake build in {build} made no python/vecaccel/_vecaccel*.so")
        target = Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built[0], target)


# Where setuptools writes its own files: VECACCEL_PIP_WORK_DIR keeps them out of the source tree
# (the CI check sets it to a temporary directory).
work = os.environ.get("VECACCEL_PIP_WORK_DIR")
options = {"build": {"build_base": str(Path(work) / "build")}, "egg_info": {"egg_base": work}} if work else {}

setup(
    ext_modules=[Extension("vecaccel._vecaccel", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    options=options,
)
