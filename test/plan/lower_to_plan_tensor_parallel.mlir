// RUN: %nnc-opt %s -nnc-lower-to-plan="model-parameters=w" | FileCheck %s

// Tensor parallelism: a split parameter's init carries its shard (axis 1 of 2 ranks), and the
// row-parallel partial product's sum over the ranks is a blocking plan.tensor_all_reduce.
// CHECK: plan.init_parameter "w" <@p.w : tensor<3x2xf32>> stream 0 from_model {shard = array<i64: 1, 2, 1>}
// CHECK: plan.func @predict {
// CHECK: plan.gemm "fc" <@t0 : tensor<4x2xf32>>, <@p.w : tensor<3x2xf32>> -> <@[[P:t[0-9]+]] : tensor<4x3xf32>>
// CHECK-NEXT: plan.tensor_all_reduce "fc" group "tensor" <@[[P]] : tensor<4x3xf32>> -> <@[[S:t[0-9]+]] : tensor<4x3xf32>>
// CHECK-NEXT: plan.output "y" <@[[S]] : tensor<4x3xf32>>
func.func @predict(%x: tensor<4x2xf32> {nn.input = "x"},
                   %w: tensor<3x2xf32> {nn.param = "w", nnc.shard = array<i64: 1, 2, 1>})
    -> (tensor<4x3xf32> {nn.output = "y"}) {
  %p = nn.linear %x, %w : tensor<4x2xf32>, tensor<3x2xf32> loc("fc")
  %s = train.tensor_parallel_sum %p : tensor<4x3xf32> loc("fc")
  return %s : tensor<4x3xf32>
}

// The vocabulary split: this rank's index in the tensor group, written by a plan.tensor_rank.
// CHECK-LABEL: plan.func @eval_step
// CHECK: plan.tensor_rank "emb" group "tensor" -> <@[[R:t[0-9]+]] : tensor<i64>>
// CHECK-NEXT: plan.output "rank" <@[[R]] : tensor<i64>>
func.func @eval_step() -> (tensor<i64> {nn.output = "rank"}) {
  %r = train.tensor_parallel_rank : tensor<i64> loc("emb")
  return %r : tensor<i64>
}
