// RUN: %nnc-opt %s -split-input-file -verify-diagnostics

plan.plan {
  plan.buffer @t size(64) live(0, 1)
  plan.func @f {
    // expected-error @+1 {{expects pass forward, backward_data or backward_weights, not 'sideways'}}
    plan.conv2d "c" "sideways" #plan.slice<@t : tensor<1x1x2x2xf32>>, #plan.slice<@t : tensor<1x1x1x1xf32>> -> #plan.slice<@t : tensor<1x1x2x2xf32>> {dilation = array<i64: 1, 1>, dtype = f32, groups = 1 : i64, padding = array<i64: 0, 0>, stride = array<i64: 1, 1>}
  }
}

// -----

plan.plan {
  plan.buffer @t size(64) live(0, 1)
  plan.func @f {
    // expected-error @+1 {{backward_data has no bias}}
    plan.conv2d "c" "backward_data" #plan.slice<@t : tensor<1x1x2x2xf32>>, #plan.slice<@t : tensor<1x1x1x1xf32>> -> #plan.slice<@t : tensor<1x1x2x2xf32>> bias #plan.slice<@t : tensor<1xf32>> {dilation = array<i64: 1, 1>, dtype = f32, groups = 1 : i64, padding = array<i64: 0, 0>, stride = array<i64: 1, 1>}
  }
}

// -----

plan.plan {
  plan.buffer @t size(64) live(0, 1)
  plan.func @f {
    // expected-error @+1 {{backward_weights writes dL/dbias in f32}}
    plan.conv2d "c" "backward_weights" #plan.slice<@t : tensor<1x1x2x2xbf16>>, #plan.slice<@t : tensor<1x1x1x1xbf16>> -> #plan.slice<@t : tensor<1x1x2x2xbf16>> bias #plan.slice<@t : tensor<1xbf16>> {dilation = array<i64: 1, 1>, dtype = bf16, groups = 1 : i64, padding = array<i64: 0, 0>, stride = array<i64: 1, 1>}
  }
}

// -----

plan.plan {
  plan.buffer @t size(64) live(0, 1)
  plan.func @f {
    // expected-error @+1 {{a backward pass has no relu}}
    plan.conv2d "c" "backward_weights" #plan.slice<@t : tensor<1x1x2x2xf32>>, #plan.slice<@t : tensor<1x1x1x1xf32>> -> #plan.slice<@t : tensor<1x1x2x2xf32>> {dilation = array<i64: 1, 1>, dtype = f32, groups = 1 : i64, padding = array<i64: 0, 0>, relu, stride = array<i64: 1, 1>}
  }
}

// -----

plan.plan {
  // expected-error @+1 {{expects a pipeline action kind, not 'jump'}}
  plan.pipeline_action "jump" micro_batch 0 peer 0
}

// -----

// expected-error @+1 {{'plan.gemm' op expects parent op 'plan.func'}}
plan.gemm "g" #plan.slice<@t : tensor<2x2xf32>>, #plan.slice<@t : tensor<2x2xf32>> -> #plan.slice<@t : tensor<2x2xf32>> {batch = 1 : i64, dtype = f32, k = 2 : i64, m = 2 : i64, n = 2 : i64}

// -----

plan.plan {
  plan.buffer @t size(64) live(0, 1)
  plan.func @f {
    // expected-error @+1 {{'plan.reduce_scatter' op expects an f32 tensor and a 1-D f32 shard, got 'tensor<2x4xf32>' and 'tensor<2x2xf32>'}}
    plan.reduce_scatter "w" #plan.slice<@t : tensor<2x4xf32>> -> #plan.slice<@t : tensor<2x2xf32>>
  }
}
