// RUN: %nnc-opt %s -split-input-file -verify-diagnostics -nnc-lower-to-plan="model-parameters=w,b" | FileCheck %s

// A linear layer and a kernel call: one buffer per tensor (parameters named after themselves and
// live throughout), the parameters filled from the model, a gemm and a kernel call on slices.
// CHECK: plan.plan {
// CHECK: plan.buffer @t0 size(32) live(0, 5)
// CHECK: plan.buffer @p.w param "w" size(24) live(0, 9223372036854775807)
// CHECK: plan.buffer @p.b param "b" size(12) live(0, 9223372036854775807)
// CHECK: plan.buffer @t3 size(48) live(1, 3)
// CHECK: plan.buffer @t4 size(48) live(3, 5)
// CHECK: plan.func @init {
// CHECK-NEXT: plan.init_parameter "w" <@p.w : tensor<3x2xf32>> stream 0 from_model
// CHECK-NEXT: plan.init_parameter "b" <@p.b : tensor<3xf32>> stream 1 from_model
// CHECK: plan.func @predict {
// CHECK-NEXT: plan.input "x" <@t0 : tensor<4x2xf32>>
// CHECK-NEXT: plan.gemm "fc" <@t0 : tensor<4x2xf32>>, <@p.w : tensor<3x2xf32>> -> <@t3 : tensor<4x3xf32>> bias <@p.b : tensor<3xf32>> {batch = 1 : i64, dtype = f32, k = 2 : i64, m = 4 : i64, n = 3 : i64, transpose_b}
// CHECK-NEXT: plan.kernel_call "relu" @k0_relu [#plan.slice<@t3 : tensor<4x3xf32>>, #plan.slice<@t4 : tensor<4x3xf32>>]
// CHECK-NEXT: plan.output "y" <@t4 : tensor<4x3xf32>>
// CHECK-NEXT: }
// CHECK-NOT: func.func @predict
func.func private @k0_relu(%in: tensor<4x3xf32>, %out: tensor<4x3xf32>) -> tensor<4x3xf32> attributes {nnc.kernel} {
  return %out : tensor<4x3xf32>
}
func.func @predict(%x: tensor<4x2xf32> {nn.input = "x"}, %w: tensor<3x2xf32> {nn.param = "w"},
                   %b: tensor<3xf32> {nn.param = "b"}) -> (tensor<4x3xf32> {nn.output = "y"}) {
  %h = nn.linear %x, %w, %b : tensor<4x2xf32>, tensor<3x2xf32>, tensor<3xf32> loc("fc")
  %e = tensor.empty() : tensor<4x3xf32>
  %r = func.call @k0_relu(%h, %e) : (tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<4x3xf32> loc("relu")
  return %r : tensor<4x3xf32>
}

// -----

// An update whose old value nothing reads after its kernel is computed in the parameter's own
// slice (no copy; the kernel is marked in place); optimizer state (not a model parameter) is
// zeros or its constant; a constant is written by init; an update computed elsewhere is copied.
// CHECK: func.func private @k0_sgd{{.*}}nnc.in_place = array<i64: 0>
// CHECK: plan.func @init {
// CHECK-NEXT: plan.init_parameter "w" {{.*}} stream 0 from_model
// CHECK-NEXT: plan.init_parameter "s" <@p.s : tensor<4xf32>> stream 1 {constant = 2.000000e+00 : f64}
// CHECK-NEXT: plan.init_parameter "z" <@p.z : tensor<4xf32>> stream 2{{$}}
// CHECK-NEXT: plan.write_bytes "half" <@t{{[0-9]+}} : tensor<4xf32>> = dense<5.000000e-01> : tensor<4xf32>
// CHECK: plan.func @train_step {
// CHECK-NEXT: plan.input "g" <@[[G:t[0-9]+]] : tensor<4xf32>>
// CHECK-NEXT: plan.kernel_call "sgd" @k0_sgd [#plan.slice<@p.w : tensor<4xf32>>, #plan.slice<@[[G]] : tensor<4xf32>>, #plan.slice<@p.w : tensor<4xf32>>]
// CHECK-NEXT: plan.copy "z" <@[[G]] : tensor<4xf32>> -> <@p.z : tensor<4xf32>>
// CHECK-NEXT: }
#map = affine_map<(d0) -> (d0)>
func.func private @k0_sgd(%p: tensor<4xf32>, %g: tensor<4xf32>, %out: tensor<4xf32>) -> tensor<4xf32> attributes {nnc.kernel} {
  %0 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel"]}
      ins(%p, %g : tensor<4xf32>, tensor<4xf32>) outs(%out : tensor<4xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %d = arith.subf %a, %b : f32
    linalg.yield %d : f32
  } -> tensor<4xf32>
  return %0 : tensor<4xf32>
}
func.func @train_step(%w: tensor<4xf32> {nn.param = "w"},
                      %s: tensor<4xf32> {nn.param = "s", nn.init = {kind = "constant", value = 2.0 : f32}},
                      %z: tensor<4xf32> {nn.param = "z", nn.init = {kind = "zeros"}},
                      %g: tensor<4xf32> {nn.input = "g"})
    -> (tensor<4xf32> {nn.updates = "w"}, tensor<4xf32> {nn.updates = "z"}) {
  %half = nn.constant dense<0.5> : tensor<4xf32> loc("half")
  %e = tensor.empty() : tensor<4xf32>
  %w2 = func.call @k0_sgd(%w, %g, %e) : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32> loc("sgd")
  return %w2, %g : tensor<4xf32>, tensor<4xf32>
}

// -----

// An all-reduce starts where it sits and is waited for just before its first reader.
// CHECK: plan.func @reduce_step {
// CHECK: plan.all_reduce_start "grads" seq 0 [#plan.slice<@[[G:t[0-9]+]] : tensor<4xf32>>] -> [#plan.slice<@[[M:t[0-9]+]] : tensor<4xf32>>]
// CHECK-NEXT: plan.kernel_call "other" @k1_neg
// CHECK-NEXT: plan.all_reduce_wait "grads" seq 0
// CHECK-NEXT: plan.kernel_call "sgd" @k0_sgd [{{.*}}#plan.slice<@[[M]] : tensor<4xf32>>
func.func private @k0_sgd(%p: tensor<4xf32>, %g: tensor<4xf32>, %out: tensor<4xf32>) -> tensor<4xf32> attributes {nnc.kernel} {
  return %out : tensor<4xf32>
}
func.func private @k1_neg(%x: tensor<4xf32>, %out: tensor<4xf32>) -> tensor<4xf32> attributes {nnc.kernel} {
  return %out : tensor<4xf32>
}
func.func @reduce_step(%w: tensor<4xf32> {nn.param = "w"}, %g: tensor<4xf32> {nn.input = "g"},
                      %x: tensor<4xf32> {nn.input = "x"})
    -> (tensor<4xf32> {nn.updates = "w"}, tensor<4xf32> {nn.output = "n"}) {
  %m = train.all_reduce %g : tensor<4xf32> loc("grads")
  %e = tensor.empty() : tensor<4xf32>
  %n = func.call @k1_neg(%x, %e) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32> loc("other")
  %e2 = tensor.empty() : tensor<4xf32>
  %w2 = func.call @k0_sgd(%w, %m, %e2) : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32> loc("sgd")
  return %w2, %n : tensor<4xf32>, tensor<4xf32>
}

// -----
// expected-error @-1 {{the model has nothing to run}}

// Kernels only (the error is at the module, which begins at the separator line).
func.func private @k0(%out: tensor<4xf32>) -> tensor<4xf32> attributes {nnc.kernel} {
  return %out : tensor<4xf32>
}

// -----

func.func @predict(%x: tensor<4xf32> {nn.input = "x"}) -> (tensor<4xf32> {nn.output = "y"}) {
  // expected-error @+1 {{cannot be executed by the CPU backend: nn.relu}}
  %y = nn.relu %x : tensor<4xf32>
  return %y : tensor<4xf32>
}
