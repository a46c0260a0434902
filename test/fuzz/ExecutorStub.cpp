// Checkpoint.cpp also holds the glue between checkpoints and a live executor (captureParameters,
// restoreParameters), which parsing never calls. These stand-ins satisfy the linker, so the
// checkpoint fuzzer need not build the executor, its devices and oneDNN.
#include "runtime/Executor.h"

#include <cstdlib>

namespace nnrt {

nnc::Status Executor::write(const nnc::TensorSlice &, const HostTensor &) { std::abort(); }
nnc::StatusOr<HostTensor> Executor::read(const nnc::TensorSlice &) const { std::abort(); }
nnc::TensorSlice Executor::logicalOf(const nnc::TensorSlice &) { std::abort(); }
nnc::StatusOr<HostTensor> Executor::readParameter(const nnc::TensorSlice &) const { std::abort(); }
nnc::Status Executor::writeParameter(const nnc::TensorSlice &, const HostTensor &) {
  std::abort();
}

} // namespace nnrt
