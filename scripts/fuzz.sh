#!/usr/bin/env bash
# Runs a libFuzzer target (the runtime's parsers, the model importers) under ASan+UBSan for
# SECONDS, starting from its seed corpus test/fuzz/corpus/<target>/ and first replaying
# test/fuzz/regressions/<target>/ (inputs that once crashed it). Builds build-fuzz/
# (test/fuzz/CMakeLists.txt) with clang-22.
#   scripts/fuzz.sh Plan 60      scripts/fuzz.sh all 10
# Prints each target's executions and coverage; exits non-zero if any target crashed.
set -uo pipefail
cd "$(dirname "$0")/.."
targets=(Plan Checkpoint Npy Csv Idx Text ModelPb ModelText ModelOnnx)
if [ $# -ne 2 ]; then
  echo "usage: scripts/fuzz.sh TARGET|all SECONDS (targets: ${targets[*]})" >&2; exit 2
fi
[ "$1" = all ] || targets=("$1")
seconds=$2

if [ ! -f build-fuzz/build.ninja ]; then
  command -v clang++-22 >/dev/null || { echo "fuzz.sh: needs clang-22 and libfuzzer-22-dev" >&2; exit 1; }
  resource_dir=
  # Without libclang-rt-22-dev, clang-22 has no sanitizer runtimes of its own: link those of the
  # installed clang 14 (libclang-rt-14-dev), named as clang-22 looks for them.
  if [ ! -e "$(clang++-22 -print-resource-dir)/lib/x86_64-pc-linux-gnu/libclang_rt.fuzzer.a" ]; then
    old=$(ls -d /usr/lib/llvm-*/lib/clang/*/lib/linux 2>/dev/null | head -1)
    [ -n "$old" ] || { echo "fuzz.sh: no sanitizer runtimes (install libclang-rt-22-dev)" >&2; exit 1; }
    resource_dir=$PWD/build-fuzz/resource-dir
    mkdir -p "$resource_dir/lib/x86_64-pc-linux-gnu"
    for lib in "$old"/libclang_rt.*-x86_64.a; do
      ln -sf "$lib" "$resource_dir/lib/x86_64-pc-linux-gnu/$(basename "$lib" -x86_64.a).a"
    done
  fi
  cmake -G Ninja -S test/fuzz -B build-fuzz -DCMAKE_CXX_COMPILER=clang++-22 \
    -DCMAKE_BUILD_TYPE=None -DNNC_FUZZ_RESOURCE_DIR="$resource_dir" >/dev/null || exit 1
fi
cmake --build build-fuzz || exit 1

status=0
for target in "${targets[@]}"; do
  fuzzer=build-fuzz/${target}Fuzzer
  [ -x "$fuzzer" ] || { echo "fuzz.sh: no target $target (${targets[*]})" >&2; exit 2; }
  if [ -d "test/fuzz/regressions/$target" ]; then
    if ! "$fuzzer" test/fuzz/regressions/$target/* >/dev/null 2>&1; then
      echo "$target: a regression input crashes it again:"; "$fuzzer" test/fuzz/regressions/$target/* 2>&1 | tail -30
      status=1; continue
    fi
  fi
  # New inputs go to a scratch corpus; the committed seeds stay as they are.
  work=build-fuzz/corpus/$target
  mkdir -p "$work" build-fuzz/artifacts
  log=build-fuzz/$target.log
  "$fuzzer" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix=build-fuzz/artifacts/$target- "$work" "test/fuzz/corpus/$target" >"$log" 2>&1
  rc=$?
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$')
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+')
  if [ "$rc" -eq 0 ]; then
    echo "$target: ${runs:-?} executions in ${seconds}s, ${last:-no coverage line}, no crash"
  else
    echo "$target: CRASHED (exit $rc) after ${runs:-?} executions; input in build-fuzz/artifacts/, log $log:"
    grep -E 'ERROR|SUMMARY|runtime error|^    #[0-9]' "$log" | head -20 | grep . || tail -5 "$log"
    status=1
  fi
done
exit $status
