# lit configuration for nnc: .mlir dialect/pass tests, .pbtxt importer and malformed-model tests
# (a .pbtxt file is its own test: its RUN lines are protobuf text-format comments).
import os
import shutil
import subprocess

import lit.formats
from lit.llvm import llvm_config

config.name = "nnc"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".pbtxt", ".test"]
config.excludes = ["unit", "tools", "corpus", "regressions", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.nnc_obj_root, "test")

llvm_config.use_default_substitutions()
# The tools under test come from NNC_TOOLS_DIR when set (the sanitizer build runs the same tests
# against its own binaries), else from this build.
tools_dir = lit_config.params.get("NNC_TOOLS_DIR", config.nnc_bin_dir)
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
# lit runs tests side by side; OpenMP threads (oneDNN's) that spin while idle would take the
# cores from each other's processes, slowing every training test many times over.
config.environment["OMP_WAIT_POLICY"] = "PASSIVE"
# Longer names first: lit substitutes in order, and %nnc is a prefix of these.
config.substitutions.append(("%nnc-build-dir", config.nnc_obj_root))
config.substitutions.append(("%nnc-src-dir", config.nnc_src_root))
config.substitutions.append(("%nnc-opt", os.path.join(tools_dir, "nnc-opt")))
config.substitutions.append(("%nnrun", os.path.join(tools_dir, "nnrun")))
config.substitutions.append(("%nnc", os.path.join(tools_dir, "nnc")))
# Debian's python3 (with python3-numpy), not a pyenv one that may come first on PATH.
config.substitutions.append(("%python", "/usr/bin/python3"))
config.substitutions.append(("%examples", config.nnc_bin_dir))
config.substitutions.append(("%protoc", config.protoc))
config.substitutions.append(("%proto_dir", os.path.join(config.nnc_src_root, "proto")))
config.substitutions.append(
    ("%expect-error", os.path.join(config.nnc_src_root, "test", "tools", "expect-error")))
config.substitutions.append(
    ("%exit-status", os.path.join(config.nnc_src_root, "test", "tools", "exit-status")))

# The installed package (test/examples/install.test): this build (%nnc-build-dir) is installed
# with the CMake that configured it, and a project is built against it with Ninja (through
# ccache when found).
config.substitutions.append(("%cmake", config.cmake))
config.substitutions.append(("%cpack", os.path.join(os.path.dirname(config.cmake), "cpack")))
ccache = shutil.which("ccache")
config.substitutions.append(
    ("%cxx_launcher", "-DCMAKE_CXX_COMPILER_LAUNCHER=" + ccache if ccache else ""))
if shutil.which("ninja"):
    config.available_features.add("ninja")
if shutil.which("dpkg-deb"):
    config.available_features.add("dpkg-deb")

# Data parallelism: Open MPI's launcher. These machines run tests as root and have fewer cores
# than some tests have ranks; ranks that wait yield their core.
config.substitutions.append(
    ("%mpirun", "mpirun --oversubscribe --allow-run-as-root --bind-to none "
                "--mca mpi_yield_when_idle 1"))

# Debian's python3-torch and python3-onnx, for tests that generate their fixtures (too large to
# commit) with PyTorch.
if subprocess.run(["/usr/bin/python3", "-c", "import torch, onnx"],
                  capture_output=True).returncode == 0:
    config.available_features.add("torch")

# CUDA. `ptxas` (from the CUDA toolkit) assembles the PTX that test/cuda prints; `cuda` marks a
# machine whose driver opens a GPU, probed through ctypes so that no toolkit is needed.
ptxas = "/usr/local/cuda/bin/ptxas"
if os.path.exists(ptxas):
    config.available_features.add("ptxas")
    config.substitutions.append(("%ptxas", ptxas))


def cuda_device_count():
    import ctypes
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return 0
    count = ctypes.c_int(0)
    if cuda.cuInit(0) != 0 or cuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return count.value


if cuda_device_count() > 0:
    config.available_features.add("cuda")

# ONNX Runtime, for the ONNX export tests: the venv scripts/onnxruntime-venv.sh makes in the build
# directory (Debian packages no onnxruntime).
ort_python = os.path.join(config.nnc_obj_root, "onnxruntime-venv", "bin", "python")
ort_wheels = os.path.join(config.nnc_obj_root, "wheels")  # for venvs of the tests' own
if os.path.isdir(ort_wheels) and os.path.exists(ort_python) and subprocess.run(
        [ort_python, "-c", "import onnxruntime"], capture_output=True).returncode == 0:
    config.available_features.add("onnxruntime")
    config.substitutions.append(("%ort-python", ort_python))
else:
    lit_config.note("no onnxruntime in " + ort_python + " (scripts/onnxruntime-venv.sh "
                    "installs it): the ONNX export tests are unsupported")

# ONNX's backend test data, for the importer's conformance suite (scripts/onnx-backend-data.sh
# unpacks it from the onnx wheel into the build directory).
onnx_backend_data = os.path.join(config.nnc_obj_root, "onnx-backend-data")
if os.path.isdir(os.path.join(onnx_backend_data, "pytorch-converted")):
    config.available_features.add("onnx-backend-data")
    config.substitutions.append(("%onnx-backend-data", onnx_backend_data))
else:
    lit_config.note("no ONNX backend test data in " + onnx_backend_data +
                    " (scripts/onnx-backend-data.sh fetches it): the conformance suite is "
                    "unsupported")

# PyTorch 2.x with onnx and onnxscript, for the dynamo exporter's fixtures too large to commit
# (test/onnx/dynamo_models.test): bench/setup_peers.sh's .venv-bench in the source tree, or in
# the main checkout when this is a git worktree; `--param torch2_python=PATH` names another.
# CI has none, so such tests are unsupported there.
def torch2_python():
    given = lit_config.params.get("torch2_python")
    if given:
        return given
    roots = [config.nnc_src_root]
    common = subprocess.run(["git", "-C", config.nnc_src_root, "rev-parse", "--git-common-dir"],
                            capture_output=True, text=True)
    if common.returncode == 0:
        roots.append(os.path.dirname(os.path.abspath(
            os.path.join(config.nnc_src_root, common.stdout.strip()))))
    for root in roots:
        python = os.path.join(root, ".venv-bench", "bin", "python")
        if os.path.exists(python):
            return python
    return None


torch2 = torch2_python()
if torch2 and subprocess.run([torch2, "-c", "import torch, onnx, onnxscript"],
                             capture_output=True).returncode == 0:
    config.available_features.add("torch2")
    config.substitutions.append(("%torch2-python", torch2))
else:
    lit_config.note("no PyTorch 2.x with onnxscript (.venv-bench): the dynamo exporter's "
                    "MobileNetV2 test is unsupported")
