#!/usr/bin/env bash
# Every test: sets up and builds (scripts/setup.sh), then runs the GoogleTest units, the lit suite,
# and the malformed-model corpus again against an AddressSanitizer + UBSan build of nnc, and
# fuzzes the runtime's parsers and the model importers briefly (scripts/fuzz.sh).
# Prints the counts of each and exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh build || exit 1

status=0
summary=()
failures=()
run_stage() { # name, pattern of the count line(s) to keep, command...
  local name=$1 count_pattern=$2; shift 2
  echo "=== $name"
  local log; log=$(mktemp)
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  summary+=("$name: $(grep -E "$count_pattern" "$log" | tr -s ' \n' ' ')(exit $rc)")
  # A failed lit test's reason is at the end of its long output: keep those last lines for the
  # summary, which is what survives when a CI log is cut short.
  [ "$rc" -eq 0 ] || failures+=("$(awk '/^[*]+ TEST .* FAILED [*]+$/ { name = $5; n = 0; inside = 1; next }
      inside && /^[*]+$/ { print "--- " name; for (i = n > 12 ? n - 12 : 0; i < n; i++) print tail[i % 64]; inside = 0; next }
      inside { tail[n++ % 64] = $0 }' "$log")")
  rm -f "$log"
  [ "$rc" -eq 0 ] || status=1
}

run_stage "unit (GoogleTest)" 'tests passed' ctest --test-dir build --output-on-failure
run_stage "lit" '^  (Passed|Failed)' /usr/lib/llvm-22/bin/lit -sv build/test
# The Python package (test/python), when the build has it (pybind11-dev and python3-dev).
if ls build/python/nnc/_nnc.*.so >/dev/null 2>&1; then
  run_stage "python (pytest)" ' (passed|failed)' env NNC_BUILD="$PWD/build" /usr/bin/python3 -m pytest -v test/python
else
  summary+=("python (pytest): the nnc package was not built (needs pybind11-dev, python3-dev)"); status=1
fi

echo "=== sanitizers: building nnc with -fsanitize=address,undefined in build-asan/"
if { [ -f build-asan/build.ninja ] ||
     cmake -G Ninja -S . -B build-asan -DNNC_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
       -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir -DLLVM_EXTERNAL_LIT=/usr/lib/llvm-22/bin/lit \
       >/dev/null; } && cmake --build build-asan --target nnc nnc-opt nnrun; then
  run_stage "malformed models and plans, importer, passes, CLI under ASan+UBSan" '^  (Passed|Failed)' \
    /usr/lib/llvm-22/bin/lit -sv build/test/malformed build/test/import build/test/nnc build/test/dialect \
      build/test/plan build/test/transforms \
    --param NNC_TOOLS_DIR="$PWD/build-asan/bin"
else
  summary+=("sanitizers: the build-asan build failed"); status=1
fi

# The runtime's parsers and the model importers under libFuzzer, 10 seconds each from the seed
# corpora, after replaying every input that once crashed them (test/fuzz/); needs clang-22.
if command -v clang++-22 >/dev/null; then
  run_stage "fuzzing the parsers and the model importers (10 s each)" 'executions|CRASHED' scripts/fuzz.sh all 10
else
  summary+=("fuzzing: skipped, no clang-22")
fi

echo
echo "=== summary"
printf '%s\n' "${summary[@]}"
for failure in "${failures[@]}"; do [ -n "$failure" ] && printf '%s\n' "$failure"; done
[ "$status" -eq 0 ] && echo "all tests passed" || echo "SOME TESTS FAILED"
exit $status
