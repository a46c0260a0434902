// oneDNN library calls for the cpu driver: dnnl::matmul for Gemm, dnnl::convolution_forward for
// Conv2d. The only file that includes <dnnl.hpp>; oneDNN's exceptions stop here and become Status.
#pragma once

#include "runtime/device/Device.h"

namespace nnrt {

/// The oneDNN engine and stream that every primitive of one device shares.
class OneDnnContext;

/// Deletes out of line: OneDnnContext is complete only in OneDnn.cpp.
struct OneDnnContextDeleter {
  void operator()(OneDnnContext *context) const;
};
using OneDnnContextPtr = std::unique_ptr<OneDnnContext, OneDnnContextDeleter>;

nnc::StatusOr<OneDnnContextPtr> createOneDnnContext();

/// Primitives created here, once; LibraryCall::run only binds pointers and executes.
nnc::StatusOr<std::unique_ptr<LibraryCall>> prepareOneDnnGemm(OneDnnContext &context,
                                                              const GemmDesc &desc);
nnc::StatusOr<std::unique_ptr<LibraryCall>> prepareOneDnnConv2d(OneDnnContext &context,
                                                                const Conv2dDesc &desc);

} // namespace nnrt
