// RUN: %nnc-opt %s -nnc-expand-erf-rational | FileCheck %s

// f32 erf: x clamped to [-4, 4], x * P(x^2) / Q(x^2) by Horner's rule (mulf + addf with
// `contract`, for FMAs), NaN passed through.
// CHECK-LABEL: func.func @erf_f32(
// CHECK-SAME: %[[X:.+]]: f32)
// CHECK-NOT: math.erf
// CHECK: %[[LO:.+]] = arith.maxnumf %[[X]], %{{.+}} : f32
// CHECK: %[[C:.+]] = arith.minnumf %[[LO]], %{{.+}} : f32
// CHECK: %[[X2:.+]] = arith.mulf %[[C]], %[[C]] : f32
// CHECK: arith.mulf %[[X2]], %{{.+}} fastmath<contract> : f32
// CHECK: arith.addf %{{.+}}, %{{.+}} fastmath<contract> : f32
// CHECK: %[[NUM:.+]] = arith.mulf %[[C]], %{{.+}} : f32
// CHECK: %[[RATIO:.+]] = arith.divf %[[NUM]], %{{.+}} : f32
// CHECK: %[[NAN:.+]] = arith.cmpf uno, %[[X]], %[[X]] : f32
// CHECK: %[[R:.+]] = arith.select %[[NAN]], %[[X]], %[[RATIO]] : f32
// CHECK: return %[[R]]
func.func @erf_f32(%x: f32) -> f32 {
  %e = math.erf %x : f32
  return %e : f32
}

// The numerator has 7 coefficients (6 Horner steps), the denominator 5 (4 steps).
// CHECK-LABEL: func.func @horner_steps(
// CHECK-COUNT-10: arith.addf {{.*}} fastmath<contract>
// CHECK-NOT: arith.addf
// CHECK: return
func.func @horner_steps(%x: f32) -> f32 {
  %e = math.erf %x : f32
  return %e : f32
}

// f64 erf stays (the kernels compute in f32).
// CHECK-LABEL: func.func @erf_f64(
// CHECK-NEXT: math.erf %{{.+}} : f64
func.func @erf_f64(%x: f64) -> f64 {
  %e = math.erf %x : f64
  return %e : f64
}
