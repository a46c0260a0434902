// RUN: %nnc-opt %s -nnc-keep-exp-in-fast-range | FileCheck %s

// f32 exp: exp(max(x, ln(FLT_MIN))), or 0 where x < ln(FLT_MIN) (NaN compares false: NaN).
// CHECK-LABEL: func.func @exp_f32(
// CHECK-SAME: %[[X:.+]]: f32)
// CHECK-DAG: %[[LOW:.+]] = arith.constant -87.3365402 : f32
// CHECK-DAG: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[CLAMPED:.+]] = arith.maximumf %[[X]], %[[LOW]] : f32
// CHECK: %[[EXP:.+]] = math.exp %[[CLAMPED]] : f32
// CHECK: %[[BELOW:.+]] = arith.cmpf olt, %[[X]], %[[LOW]] : f32
// CHECK: %[[R:.+]] = arith.select %[[BELOW]], %[[ZERO]], %[[EXP]] : f32
// CHECK: return %[[R]]
func.func @exp_f32(%x: f32) -> f32 {
  %e = math.exp %x : f32
  return %e : f32
}

// Only f32 (libmvec's expf); f64 stays.
// CHECK-LABEL: func.func @exp_f64(
// CHECK-NEXT: %[[E:.+]] = math.exp %{{.+}} : f64
// CHECK-NEXT: return %[[E]]
func.func @exp_f64(%x: f64) -> f64 {
  %e = math.exp %x : f64
  return %e : f64
}
