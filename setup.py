"""setuptools glue for `pip install .`: the extension module _nnc is built by the project's
CMake (python/CMakeLists.txt), not by setuptools. The build directory is $NNC_BUILD_DIR, else
build/ beside this file; a new one is configured as scripts/setup.sh configures it, an existing
one only builds the _nnc target (up to date after scripts/setup.sh: nothing to compile).
$NNC_BUILD_JOBS caps the parallel jobs (default 2)."""
import os
import re
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SOURCE = os.path.dirname(os.path.abspath(__file__))


def project_version():
    """The version of CMakeLists.txt's project(), the one the tools print."""
    with open(os.path.join(SOURCE, "CMakeLists.txt")) as f:
        return re.search(r"project\(nnc VERSION ([0-9.]+)", f.read()).group(1)


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        build = os.path.abspath(os.environ.get("NNC_BUILD_DIR", os.path.join(SOURCE, "build")))
        if not os.path.exists(os.path.join(build, "CMakeCache.txt")):
            subprocess.check_call([
                "cmake", "-G", "Ninja", "-S", SOURCE, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
                "-DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir",
                "-DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit",
                "-DPYTHON_EXECUTABLE=" + sys.executable])
        jobs = os.environ.get("NNC_BUILD_JOBS", "2")
        subprocess.check_call(["cmake", "--build", build, "--target", "_nnc", "-j", jobs])
        built = os.path.join(build, "python", "nnc", self.get_ext_filename("_nnc"))
        if not os.path.exists(built):
            sys.exit(f"nnc: {built}: not built (the build's Python is not this one, "
                     f"{sys.executable}?)")
        target = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(built, target)


setup(
    version=project_version(),
    packages=["nnc"],
    package_dir={"nnc": "python/nnc"},
    ext_modules=[Extension("nnc._nnc", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    # setuptools' own scratch files, kept out of the CMake build directory's top level.
    options={"build": {"build_base": "build/setuptools"}},
)
