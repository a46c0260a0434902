// RUN: %nnc-opt %s -split-input-file -verify-diagnostics -nnc-schedule-pipeline="micro-batches=3" | FileCheck %s

// 1F1B over two stages and three micro-batches: the first stage runs one forward ahead, then
// alternates; the last receives each activation and runs its backward at once.
// CHECK-LABEL: module @stage0
// CHECK: plan.pipeline_action "forward" micro_batch 0 peer 0
// CHECK-NEXT: plan.pipeline_action "send_activation" micro_batch 0 peer 1
// CHECK-NEXT: plan.pipeline_action "forward" micro_batch 1 peer 0
// CHECK-NEXT: plan.pipeline_action "send_activation" micro_batch 1 peer 1
// CHECK-NEXT: plan.pipeline_action "recv_gradient" micro_batch 0 peer 1
// CHECK-NEXT: plan.pipeline_action "backward" micro_batch 0 peer 0
// CHECK-NEXT: plan.pipeline_action "forward" micro_batch 2 peer 0
// CHECK-NEXT: plan.pipeline_action "send_activation" micro_batch 2 peer 1
// CHECK-NEXT: plan.pipeline_action "recv_gradient" micro_batch 1 peer 1
// CHECK-NEXT: plan.pipeline_action "backward" micro_batch 1 peer 0
// CHECK-NEXT: plan.pipeline_action "recv_gradient" micro_batch 2 peer 1
// CHECK-NEXT: plan.pipeline_action "backward" micro_batch 2 peer 0
// CHECK-NEXT: plan.pipeline_action "apply" micro_batch 0 peer 0
// CHECK-LABEL: module @stage1
// CHECK: plan.pipeline_action "recv_activation" micro_batch 0 peer 0
// CHECK-NEXT: plan.pipeline_action "backward" micro_batch 0 peer 1
// CHECK-NEXT: plan.pipeline_action "send_gradient" micro_batch 0 peer 0
// CHECK-NEXT: plan.pipeline_action "recv_activation" micro_batch 1 peer 0
// CHECK-NEXT: plan.pipeline_action "backward" micro_batch 1 peer 1
// CHECK-NEXT: plan.pipeline_action "send_gradient" micro_batch 1 peer 0
// CHECK-NEXT: plan.pipeline_action "recv_activation" micro_batch 2 peer 0
// CHECK-NEXT: plan.pipeline_action "backward" micro_batch 2 peer 1
// CHECK-NEXT: plan.pipeline_action "send_gradient" micro_batch 2 peer 0
// CHECK-NEXT: plan.pipeline_action "apply" micro_batch 0 peer 1
module {
  module @stage0 {
    plan.plan {
      plan.func @forward_step {}
      plan.func @accumulate_step {}
      plan.func @apply_step {}
    }
  }
  module @stage1 {
    plan.plan {
      plan.func @accumulate_step {}
      plan.func @apply_step {}
    }
  }
}

// -----

module {
  // expected-error @+1 {{pipeline stage 0 has no apply_step}}
  module @stage0 {
    plan.plan {
      plan.func @accumulate_step {}
    }
  }
}
