// RUN: %nnc-opt %s -split-input-file -verify-diagnostics

func.func @clip_max_norm(%g: tensor<4xf32>, %n: tensor<f32>) -> tensor<4xf32> {
  // expected-error @+1 {{'train.clip' op expects a positive max_norm}}
  %0 = train.clip %g, %n <{max_norm = 0.0 : f64}> : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @global_norm_empty() -> tensor<f32> {
  // expected-error @+1 {{'train.global_norm' op expects at least one gradient}}
  %0 = "train.global_norm"() : () -> tensor<f32>
  return %0 : tensor<f32>
}

// -----

func.func @adam_lr_not_scalar(%p: tensor<4xf32>, %lr: tensor<1xf32>, %t: tensor<f32>) -> tensor<4xf32> {
  // expected-error @+1 {{operand #4 must be 0D tensor of 32-bit float values}}
  %0:3 = "train.adam"(%p, %p, %p, %p, %lr, %t) <{beta1 = 0.9 : f64, beta2 = 0.999 : f64, decoupled = true, epsilon = 1.0e-8 : f64, weight_decay = 0.0 : f64}> : (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<1xf32>, tensor<f32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>)
  return %0#0 : tensor<4xf32>
}

// -----

func.func @reduce_scatter_wrong_shard(%g: tensor<3x5xf32>) -> tensor<7xf32> {
  // expected-error @+1 {{'train.reduce_scatter' op expects the shard of 'tensor<3x5xf32>' over 2 ranks to be 'tensor<8xf32>', got 'tensor<7xf32>'}}
  %0 = train.reduce_scatter %g {shards = 2 : i64} : tensor<3x5xf32> -> tensor<7xf32>
  return %0 : tensor<7xf32>
}

// -----

func.func @take_shard_no_ranks(%p: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{'train.take_shard' op expects shards >= 1, got 0}}
  %0 = train.take_shard %p {shards = 0 : i64} : tensor<4xf32> -> tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @all_gather_not_flat(%s: tensor<2x2xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{'train.all_gather' op expects the shard of 'tensor<8xf32>' over 2 ranks to be 'tensor<4xf32>', got 'tensor<2x2xf32>'}}
  %0 = train.all_gather %s {shards = 2 : i64} : tensor<2x2xf32> -> tensor<8xf32>
  return %0 : tensor<8xf32>
}
