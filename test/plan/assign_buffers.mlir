// RUN: %nnc-opt %s -split-input-file -verify-diagnostics -nnc-assign-buffers | FileCheck %s

// Buffers live at different times share bytes; overlapping ones do not; offsets are 64-byte
// aligned, the largest buffer placed first; the arena is the highest end.
// CHECK: plan.plan attributes {arena_bytes = 200 : i64}
// CHECK: plan.buffer @a size(100) live(1, 2) offset(0)
// CHECK: plan.buffer @b size(64) live(2, 3) offset(128)
// CHECK: plan.buffer @c size(100) live(3, 4) offset(0)
// CHECK: plan.buffer @p param "p" size(8) live(0, 9223372036854775807) offset(192)
plan.plan {
  plan.buffer @a size(100) live(1, 2)
  plan.buffer @b size(64) live(2, 3)
  plan.buffer @c size(100) live(3, 4)
  plan.buffer @p param "p" size(8) live(0, 9223372036854775807)
}

// -----

// expected-error @+1 {{the model's tensors need more bytes than int64 can count}}
plan.plan {
  plan.buffer @a size(9223372036854775000) live(1, 2)
  plan.buffer @b size(9223372036854775000) live(1, 2)
}
