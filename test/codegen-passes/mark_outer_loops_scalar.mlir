// A loop holding inner loops of 8 or more iterations (which LLVM unrolls fully before it
// vectorizes) is marked "do not vectorize", so LLVM's loop vectorizer does not take it across
// the unrolled rows with gathers; one holding fewer (a window's 2 columns, a small stride) and
// the innermost loops stay vectorizable. nnc-move-loop-annotations then makes the mark the
// llvm.br's own (the form the translation to LLVM IR emits as !llvm.loop).
// RUN: %nnc-opt %s -nnc-mark-outer-loops-scalar | FileCheck %s
// RUN: %nnc-opt %s -nnc-mark-outer-loops-scalar -convert-scf-to-cf -convert-cf-to-llvm \
// RUN:   -nnc-move-loop-annotations | FileCheck %s --check-prefix=LLVM
// CHECK: #[[VEC:.+]] = #llvm.loop_vectorize<disable = true>
// CHECK: #[[SCALAR:.+]] = #llvm.loop_annotation<vectorize = #[[VEC]]>
// CHECK-LABEL: func.func @rows
// CHECK: scf.for
// CHECK: scf.for
// CHECK: memref.store
// CHECK-NEXT: }
// CHECK-NOT: llvm.loop_annotation
// CHECK: } {llvm.loop_annotation = #[[SCALAR]]}
// CHECK-LABEL: func.func @pairs
// CHECK-NOT: llvm.loop_annotation
// CHECK: return
// LLVM: #[[SCALAR:.+]] = #llvm.loop_annotation<vectorize = #{{.+}}>
// LLVM-LABEL: func.func @rows
// LLVM-COUNT-3: llvm.br ^{{[^{]+$}}
// LLVM: llvm.br ^{{.+}} {loop_annotation = #[[SCALAR]]}
// LLVM-LABEL: func.func @pairs
// LLVM-NOT: loop_annotation
func.func @rows(%a: memref<64x14xf32>, %v: f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c14 = arith.constant 14 : index
  %c64 = arith.constant 64 : index
  scf.for %i = %c0 to %c64 step %c1 {
    scf.for %j = %c0 to %c14 step %c1 {
      memref.store %v, %a[%i, %j] : memref<64x14xf32>
    }
  }
  return
}
func.func @pairs(%a: memref<64x2xf32>, %v: f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c64 = arith.constant 64 : index
  scf.for %i = %c0 to %c64 step %c1 {
    scf.for %j = %c0 to %c2 step %c1 {
      memref.store %v, %a[%i, %j] : memref<64x2xf32>
    }
  }
  return
}
