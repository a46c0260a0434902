// RUN: %nnc-opt %s -split-input-file -nnc-distribute | FileCheck %s

// Two ranks, 64-byte buckets: gradients are bucketed in the order the backward pass finishes
// them (%g2 first, then %g1, then %g0) and each bucket is reduced right after its last gradient,
// before the rest of the backward pass. %g2 (32 bytes) and %g1 (32 bytes) share a bucket; %g0
// (64 bytes) would overflow it and gets its own. Every read of a gradient by the update (norm,
// clip, optimizer) sees the mean; backward ops (%g1 from %g2, the relu) keep the local value.
// CHECK-LABEL: func.func @train_step
// CHECK: %[[G2:.+]] = nn.mul %{{.+}}, %{{.+}} : tensor<8xf32>
// CHECK: %[[G1:.+]] = nn.add %[[G2]], %{{.+}} : tensor<8xf32>
// CHECK-NEXT: %[[R0:.+]]:2 = train.all_reduce %[[G2]], %[[G1]] : tensor<8xf32>, tensor<8xf32>
// CHECK-NEXT: %[[G0:.+]] = nn.sub %{{.+}}, %{{.+}} : tensor<16xf32>
// CHECK-NEXT: %[[R1:.+]] = train.all_reduce %[[G0]] : tensor<16xf32>
// CHECK-NEXT: nn.relu %[[G0]] : tensor<16xf32>
// CHECK: %[[N:.+]] = train.global_norm %[[R1]], %[[R0]]#1, %[[R0]]#0
// CHECK: train.clip %[[R1]], %[[N]]
// CHECK: train.sgd %{{.+}}, %[[R0]]#1, %{{.+}}
// CHECK: train.sgd %{{.+}}, %[[R0]]#0, %{{.+}}
module attributes {nn.training = #nn.training<loss = "loss", world_size = 2, bucket_bytes = 64>} {
  func.func @train_step(%w0: tensor<16xf32>, %w1: tensor<8xf32>, %w2: tensor<8xf32>, %x: tensor<8xf32>, %lr: tensor<f32>) -> (tensor<16xf32>, tensor<16xf32>, tensor<8xf32>, tensor<8xf32>) {
    %g2 = nn.mul %x, %w2 : tensor<8xf32>, tensor<8xf32>
    %g1 = nn.add %g2, %w1 : tensor<8xf32>, tensor<8xf32>
    %g0 = nn.sub %w0, %w0 : tensor<16xf32>, tensor<16xf32>
    %rest = nn.relu %g0 : tensor<16xf32>
    %n = train.global_norm %g0, %g1, %g2 : tensor<16xf32>, tensor<8xf32>, tensor<8xf32>
    %c0 = train.clip %g0, %n <{max_norm = 1.0 : f64}> : tensor<16xf32>
    %p0 = train.sgd %w0, %c0, %lr <{weight_decay = 0.0 : f64}> : tensor<16xf32>
    %p1 = train.sgd %w1, %g1, %lr <{weight_decay = 0.0 : f64}> : tensor<8xf32>
    %p2 = train.sgd %w2, %g2, %lr <{weight_decay = 0.0 : f64}> : tensor<8xf32>
    return %rest, %p0, %p1, %p2 : tensor<16xf32>, tensor<16xf32>, tensor<8xf32>, tensor<8xf32>
  }
}

// -----

// Gradient accumulation: the reduction happens in @apply_step, once per update, on the mean of
// the accumulators; @accumulate_step (one micro-batch) does not communicate. The default bucket
// (25 MiB) holds both gradients.
// CHECK-LABEL: func.func @accumulate_step
// CHECK-NOT: train.all_reduce
// CHECK-LABEL: func.func @apply_step
// CHECK: %[[R:.+]]:2 = train.all_reduce %{{.+}}, %{{.+}} : tensor<4xf32>, tensor<4xf32>
// CHECK: train.sgd %{{.+}}, %[[R]]#0
// CHECK: train.sgd %{{.+}}, %[[R]]#1
module attributes {nn.training = #nn.training<loss = "loss", world_size = 4>} {
  func.func @accumulate_step(%a: tensor<4xf32>, %b: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
    %s = nn.add %a, %b : tensor<4xf32>, tensor<4xf32>
    return %s, %s : tensor<4xf32>, tensor<4xf32>
  }
  func.func @apply_step(%w: tensor<4xf32>, %v: tensor<4xf32>, %acc0: tensor<4xf32>, %acc1: tensor<4xf32>, %lr: tensor<f32>) -> (tensor<4xf32>, tensor<4xf32>) {
    %pw = train.sgd %w, %acc0, %lr <{weight_decay = 0.0 : f64}> : tensor<4xf32>
    %pv = train.sgd %v, %acc1, %lr <{weight_decay = 0.0 : f64}> : tensor<4xf32>
    return %pw, %pv : tensor<4xf32>, tensor<4xf32>
  }
}

// -----

// One rank (or no data_parallel): nothing to reduce.
// CHECK-LABEL: func.func @train_step
// CHECK-NOT: train.all_reduce
module attributes {nn.training = #nn.training<loss = "loss", world_size = 1>} {
  func.func @train_step(%w: tensor<4xf32>, %g: tensor<4xf32>, %lr: tensor<f32>) -> tensor<4xf32> {
    %p = train.sgd %w, %g, %lr <{weight_decay = 0.0 : f64}> : tensor<4xf32>
    return %p : tensor<4xf32>
  }
}

// -----

// ZeRO-1 (nnc.zero_stage = 1): each gradient is reduce-scattered right after it is final; the
// norm is the square root of the shards' squared norms summed over the ranks; Adam updates this
// rank's shard of the parameter (take_shard) with moments of the shard's type (5 of 10 elements:
// the function's arguments and results shrink), and the new shard is all-gathered into the
// parameter the step returns. The state's logical types are kept for the plan's table.
// CHECK-LABEL: module attributes
// CHECK-SAME: nnc.zero_logical_types = {m = tensor<10xf32>, v = tensor<10xf32>}
// CHECK-LABEL: func.func @train_step
// CHECK-SAME: %[[M:[a-z0-9]+]]: tensor<5xf32> {nn.param = "m"}, %[[V:[a-z0-9]+]]: tensor<5xf32> {nn.param = "v"}
// CHECK-SAME: -> (tensor<10xf32>, tensor<5xf32>, tensor<5xf32>)
// CHECK: %[[G:.+]] = nn.mul
// CHECK-NEXT: %[[S:.+]] = train.reduce_scatter %[[G]] {shards = 2 : i64} : tensor<10xf32> -> tensor<5xf32>
// CHECK: %[[N:.+]] = train.global_norm %[[S]] : tensor<5xf32>
// CHECK: %[[SUM:.+]] = train.all_reduce %{{.+}} {sum} : tensor<f32>
// CHECK: %[[GN:.+]] = nn.sqrt %[[SUM]]
// CHECK: %[[C:.+]] = train.clip %[[S]], %[[GN]] {{.*}} : tensor<5xf32>
// CHECK: %[[P:.+]] = train.take_shard %{{.+}} {shards = 2 : i64} : tensor<10xf32> -> tensor<5xf32>
// CHECK: %[[NEW:.+]], %[[NM:.+]], %[[NV:.+]] = train.adam %[[P]], %[[C]], %[[M]], %[[V]]
// CHECK: %[[W:.+]] = train.all_gather %[[NEW]] {shards = 2 : i64} : tensor<5xf32> -> tensor<10xf32>
// CHECK: return %[[W]], %[[NM]], %[[NV]]
module attributes {nn.training = #nn.training<loss = "loss", world_size = 2>, nnc.zero_stage = 1 : i64} {
  func.func @train_step(%w: tensor<10xf32> {nn.param = "w"}, %m: tensor<10xf32> {nn.param = "m"}, %v: tensor<10xf32> {nn.param = "v"}, %x: tensor<10xf32>, %lr: tensor<f32>, %t: tensor<f32>) -> (tensor<10xf32>, tensor<10xf32>, tensor<10xf32>) {
    %g = nn.mul %x, %w : tensor<10xf32>, tensor<10xf32>
    %n = train.global_norm %g : tensor<10xf32>
    %c = train.clip %g, %n <{max_norm = 1.0 : f64}> : tensor<10xf32>
    %p, %m2, %v2 = train.adam %w, %c, %m, %v, %lr, %t <{beta1 = 0.9 : f64, beta2 = 0.999 : f64, decoupled = true, epsilon = 1.0e-08 : f64, weight_decay = 0.0 : f64}> : tensor<10xf32>
    return %p, %m2, %v2 : tensor<10xf32>, tensor<10xf32>, tensor<10xf32>
  }
}
