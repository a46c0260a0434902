// RUN: %nnc-opt %s -split-input-file -nnc-compute-in-f32 | FileCheck %s

// bf16 GELU: every op at f32 (erf among them, so nnc-expand-erf-rational applies); the operands
// are extended once each, the result truncated once, at the yield.
// CHECK-LABEL: func.func @gelu_bf16(
// CHECK-SAME: %[[X:.+]]: bf16)
// CHECK-DAG: %[[XW:.+]] = arith.extf %[[X]] : bf16 to f32
// CHECK-DAG: %[[CW:.+]] = arith.extf %{{.+}} : bf16 to f32
// CHECK: %[[A:.+]] = arith.mulf %[[XW]], %[[CW]] : f32
// CHECK: %[[E:.+]] = math.erf %[[A]] : f32
// CHECK: %[[S:.+]] = arith.addf %[[E]], %{{.+}} : f32
// CHECK: %[[H:.+]] = arith.mulf %[[XW]], %{{.+}} : f32
// CHECK: %[[R:.+]] = arith.mulf %[[H]], %[[S]] : f32
// CHECK: %[[T:.+]] = arith.truncf %[[R]] : f32 to bf16
// CHECK: return %[[T]] : bf16
// CHECK-NOT: arith.truncf
func.func @gelu_bf16(%x: bf16) -> bf16 {
  %c = arith.constant 7.070310e-01 : bf16
  %one = arith.constant 1.000000e+00 : bf16
  %half = arith.constant 5.000000e-01 : bf16
  %a = arith.mulf %x, %c : bf16
  %e = math.erf %a : bf16
  %s = arith.addf %e, %one : bf16
  %h = arith.mulf %x, %half : bf16
  %r = arith.mulf %h, %s : bf16
  return %r : bf16
}

// -----

// An f32 use of a bf16 result takes the f32 value: no truncate-then-extend.
// CHECK-LABEL: func.func @extended_result(
// CHECK: %[[S:.+]] = arith.addf %{{.+}}, %{{.+}} : f32
// CHECK-NOT: arith.truncf
// CHECK-NOT: arith.extf %{{.+}} : bf16
// CHECK: return %[[S]] : f32
func.func @extended_result(%a: bf16, %b: bf16) -> f32 {
  %s = arith.addf %a, %b : bf16
  %w = arith.extf %s : bf16 to f32
  return %w : f32
}

// -----

// Comparisons and selects on f16 compute at f32 too; the i1 result is used as it is.
// CHECK-LABEL: func.func @relu_f16(
// CHECK: %[[C:.+]] = arith.cmpf ogt, %{{.+}}, %{{.+}} : f32
// CHECK: %[[S:.+]] = arith.select %[[C]], %{{.+}}, %{{.+}} : f32
// CHECK: arith.truncf %[[S]] : f32 to f16
func.func @relu_f16(%x: f16) -> f16 {
  %zero = arith.constant 0.0 : f16
  %c = arith.cmpf ogt, %x, %zero : f16
  %s = arith.select %c, %x, %zero : f16
  return %s : f16
}

// -----

// f32 and mixed-type ops stay as they are.
// CHECK-LABEL: func.func @f32_unchanged(
// CHECK-NEXT: arith.mulf %{{.+}}, %{{.+}} : f32
// CHECK-NEXT: math.erf %{{.+}} : f32
// CHECK-NEXT: arith.truncf %{{.+}} : f32 to bf16
// CHECK-NEXT: arith.bitcast %{{.+}} : bf16 to i16
func.func @f32_unchanged(%x: f32) -> i16 {
  %a = arith.mulf %x, %x : f32
  %e = math.erf %a : f32
  %t = arith.truncf %e : f32 to bf16
  %i = arith.bitcast %t : bf16 to i16
  return %i : i16
}
