// RUN: %nnc-opt %s -nnc-expand-exp-polynomial | FileCheck %s

// f32 exp: clamped to [ln(FLT_MIN), ln(FLT_MAX)], n = round(x / ln 2) by truncating x / ln 2 +-
// 0.5, r = x - n ln 2 in two parts, the polynomial, 2^n as two halves in the exponent bits; then
// 0 below, +inf above, NaN through.
// CHECK-LABEL: func.func @exp_f32(
// CHECK-SAME: %[[X:.+]]: f32)
// CHECK-DAG: %[[HIGH:.+]] = arith.constant 88.7228317 : f32
// CHECK-DAG: %[[LOW:.+]] = arith.constant -87.3365402 : f32
// CHECK: %[[ABOVE_LOW:.+]] = arith.maxnumf %[[X]], %[[LOW]] : f32
// CHECK: %[[C:.+]] = arith.minnumf %[[ABOVE_LOW]], %[[HIGH]] : f32
// CHECK: %[[N:.+]] = arith.fptosi %{{.+}} : f32 to i32
// CHECK: %[[NF:.+]] = arith.sitofp %[[N]] : i32 to f32
// CHECK-DAG: arith.mulf %[[NF]], %{{.+}} fastmath<contract> : f32
// CHECK-DAG: arith.addf %[[C]], %{{.+}} fastmath<contract> : f32
// CHECK: %[[HALF:.+]] = arith.shrsi %[[N]], %{{.+}} : i32
// CHECK: %[[REST:.+]] = arith.subi %[[N]], %[[HALF]] : i32
// CHECK: arith.bitcast %{{.+}} : i32 to f32
// CHECK: arith.bitcast %{{.+}} : i32 to f32
// CHECK: arith.mulf
// CHECK-NEXT: %[[Y:.+]] = arith.mulf
// CHECK: %[[ZERO:.+]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[BELOW:.+]] = arith.cmpf olt, %[[X]], %{{.+}} : f32
// CHECK: %[[R1:.+]] = arith.select %[[BELOW]], %[[ZERO]], %[[Y]] : f32
// CHECK: %[[INF:.+]] = arith.constant 0x7F800000 : f32
// CHECK: %[[OVER:.+]] = arith.cmpf ogt, %[[X]], %{{.+}} : f32
// CHECK: %[[R2:.+]] = arith.select %[[OVER]], %[[INF]], %[[R1]] : f32
// CHECK: %[[NAN:.+]] = arith.cmpf uno, %[[X]], %[[X]] : f32
// CHECK: %[[R:.+]] = arith.select %[[NAN]], %[[X]], %[[R2]] : f32
// CHECK-NOT: math.exp
// CHECK: return %[[R]]
func.func @exp_f32(%x: f32) -> f32 {
  %e = math.exp %x : f32
  return %e : f32
}

// Only f32; f64 stays a call (libm).
// CHECK-LABEL: func.func @exp_f64(
// CHECK-NEXT: %[[E:.+]] = math.exp %{{.+}} : f64
// CHECK-NEXT: return %[[E]]
func.func @exp_f64(%x: f64) -> f64 {
  %e = math.exp %x : f64
  return %e : f64
}
