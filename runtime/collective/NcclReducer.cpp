// The nccl engine's mean: ncclAllReduce with ncclAvg on device memory, on a stream of its own.
// libnccl and libcuda are loaded at run time (the cuda driver's SharedLibrary and DriverApi), so
// nnrun runs, and says why nccl cannot, where they are missing.
//
// Setup, on the communicator's thread:
//   1. this rank's GPU is its index among the ranks of its node (MPI's shared-memory split);
//      make its primary context current (the one the cuda device uses) and create a stream;
//   2. rank 0's ncclUniqueId travels to every rank over MPI;
//   3. ncclCommInitRank, which returns once every rank has joined.
// A mean is then ncclAllReduce in place on that stream; completion is polled with cuStreamQuery
// and ncclCommGetAsyncError, so a hung peer times out like an MPI collective (ncclCommAbort).
#include "runtime/collective/MpiCommunicator.h"

#if NNRT_COLLECTIVE_WITH_NCCL

#include "runtime/device/cuda/CudaApi.h"

#include <nccl.h>

namespace nnrt::collective {
namespace {

#define NNRT_NCCL_FUNCTIONS(X)                                                                     \
  X(ncclGetVersion)                                                                                \
  X(ncclGetErrorString)                                                                            \
  X(ncclGetUniqueId)                                                                               \
  X(ncclCommInitRank)                                                                              \
  X(ncclCommDestroy)                                                                               \
  X(ncclCommAbort)                                                                                 \
  X(ncclCommGetAsyncError)                                                                         \
  X(ncclAllReduce)

struct NcclApi {
  std::shared_ptr<cuda::SharedLibrary> library;
  NNRT_NCCL_FUNCTIONS(NNRT_CUDA_DECLARE)
};

/// "ncclAllReduce failed: unhandled cuda error (run with NCCL_DEBUG=INFO for details)".
std::string describe(const NcclApi &api, const char *call, ncclResult_t result) {
  const char *text = api.ncclGetErrorString(result);
  return std::string(call) + " failed: " +
         (text ? text : "NCCL error " + std::to_string(int(result)));
}

#define NNRT_NCCL_CHECK(call)                                                                      \
  do {                                                                                             \
    ncclResult_t nnrtResult = nccl_->call;                                                         \
    if (nnrtResult != ncclSuccess)                                                                 \
      return nnc::Status::error(describe(*nccl_, #call, nnrtResult));                              \
  } while (0)

#define NNRT_CU_CHECK(call)                                                                        \
  do {                                                                                             \
    CUresult nnrtResult = driver_->call;                                                           \
    if (nnrtResult != CUDA_SUCCESS)                                                                \
      return nnc::Status::error(cuda::describe(*driver_, #call, nnrtResult));                      \
  } while (0)

using StreamQuery = CUresult (*)(CUstream);

class NcclReducer final : public MeanReducer {
public:
  NcclReducer(std::unique_ptr<NcclApi> nccl, std::unique_ptr<cuda::DriverApi> driver,
              StreamQuery streamQuery)
      : nccl_(std::move(nccl)), driver_(std::move(driver)), streamQuery_(streamQuery) {}

  nnc::Status setUp(MPI_Comm comm, int rank, int size, Clock::time_point deadline) override {
    // 1. One GPU per rank of this node.
    MPI_Comm node;
    if (int code = MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node);
        code != MPI_SUCCESS)
      return nnc::Status::error(describeMpiError("MPI_Comm_split_type", code));
    int localRank = 0, localSize = 1;
    MPI_Comm_rank(node, &localRank);
    MPI_Comm_size(node, &localSize);
    MPI_Comm_free(&node);
    if (CUresult result = driver_->cuInit(0); result != CUDA_SUCCESS)
      return nnc::Status::error("CUDA is not available: " +
                                cuda::describe(*driver_, "cuInit", result));
    int gpus = 0;
    NNRT_CU_CHECK(cuDeviceGetCount(&gpus));
    if (gpus < localSize)
      return nnc::Status::error(std::to_string(localSize) + " ranks on this node but " +
                                std::to_string(gpus) + " GPU(s); each rank needs its own");
    NNRT_CU_CHECK(cuDeviceGet(&device_, localRank));
    NNRT_CU_CHECK(cuDevicePrimaryCtxRetain(&context_, device_));
    NNRT_CU_CHECK(cuCtxSetCurrent(context_));
    NNRT_CU_CHECK(cuStreamCreate(&stream_, CU_STREAM_NON_BLOCKING));

    // 2. Rank 0's id to everyone.
    ncclUniqueId id = {};
    if (rank == 0)
      NNRT_NCCL_CHECK(ncclGetUniqueId(&id));
    MPI_Request request;
    if (int code = MPI_Ibcast(&id, sizeof id, MPI_BYTE, 0, comm, &request); code != MPI_SUCCESS)
      return nnc::Status::error(describeMpiError("MPI_Ibcast", code));
    nnc::StatusOr<bool> shared = pollUntil(deadline, [&]() -> nnc::StatusOr<bool> {
      int flag = 0;
      if (int code = MPI_Test(&request, &flag, MPI_STATUS_IGNORE); code != MPI_SUCCESS)
        return nnc::Status::error(describeMpiError("MPI_Ibcast", code));
      return flag != 0;
    });
    if (!shared.ok())
      return shared.status();
    if (!*shared)
      return nnc::Status::error("rank 0's NCCL id did not arrive in time (a peer died?)");

    // 3. The NCCL communicator; blocks until every rank has joined.
    NNRT_NCCL_CHECK(ncclCommInitRank(&comm_, size, id, rank));
    return nnc::Status();
  }

  nnc::Status start(float *data, int64_t count) override {
    NNRT_NCCL_CHECK(ncclAllReduce(data, data, size_t(count), ncclFloat32, ncclAvg, comm_,
                                  reinterpret_cast<cudaStream_t>(stream_)));
    return nnc::Status();
  }

  nnc::StatusOr<bool> test() override {
    CUresult result = streamQuery_(stream_);
    if (result == CUDA_SUCCESS)
      return true;
    if (result != CUDA_ERROR_NOT_READY)
      return nnc::Status::error(cuda::describe(*driver_, "cuStreamQuery", result));
    ncclResult_t asyncError = ncclSuccess;
    NNRT_NCCL_CHECK(ncclCommGetAsyncError(comm_, &asyncError));
    if (asyncError != ncclSuccess && asyncError != ncclInProgress)
      return nnc::Status::error(describe(*nccl_, "ncclAllReduce", asyncError));
    return false;
  }

  void abandon() override {
    if (comm_)
      nccl_->ncclCommAbort(comm_);
    comm_ = nullptr;
  }

  void tearDown() override {
    if (comm_)
      nccl_->ncclCommDestroy(comm_);
    comm_ = nullptr;
    if (stream_)
      driver_->cuStreamDestroy(stream_);
    stream_ = nullptr;
    if (context_)
      driver_->cuDevicePrimaryCtxRelease(device_);
    context_ = nullptr;
  }

private:
  std::unique_ptr<NcclApi> nccl_;
  std::unique_ptr<cuda::DriverApi> driver_;
  StreamQuery streamQuery_;
  CUdevice device_ = 0;
  CUcontext context_ = nullptr;
  CUstream stream_ = nullptr;
  ncclComm_t comm_ = nullptr;
};

} // namespace

nnc::StatusOr<std::unique_ptr<MeanReducer>> createNcclReducer() {
  nnc::StatusOr<std::shared_ptr<cuda::SharedLibrary>> library = cuda::SharedLibrary::open(
      "nccl", {"libnccl.so.2", "/usr/local/cuda/lib/libnccl.so.2",
               "/usr/local/cuda/lib64/libnccl.so.2"});
  if (!library.ok())
    return library.status();
  auto nccl = std::make_unique<NcclApi>();
  nccl->library = std::move(*library);
#define NNRT_NCCL_LOAD(name)                                                                       \
  nccl->name = reinterpret_cast<decltype(nccl->name)>(nccl->library->symbol(#name));              \
  if (!nccl->name)                                                                                 \
    return nnc::Status::error("nccl: " + nccl->library->path() + " lacks " #name);
  NNRT_NCCL_FUNCTIONS(NNRT_NCCL_LOAD)
#undef NNRT_NCCL_LOAD
  // ncclAvg arrived in NCCL 2.10 (version code 21000).
  int version = 0;
  if (nccl->ncclGetVersion(&version) != ncclSuccess || version < 21000)
    return nnc::Status::error("nccl: " + nccl->library->path() + " is NCCL " +
                              std::to_string(version) + "; the mean needs 2.10 or newer");

  nnc::StatusOr<std::unique_ptr<cuda::DriverApi>> driver = cuda::loadDriverApi();
  if (!driver.ok())
    return nnc::Status::error("nccl: " + driver.status().message());
  // Not in the cuda driver's table, which never polls.
  auto streamQuery = reinterpret_cast<StreamQuery>((*driver)->library->symbol("cuStreamQuery"));
  if (!streamQuery)
    return nnc::Status::error("nccl: " + (*driver)->library->path() + " lacks cuStreamQuery");
  return std::unique_ptr<MeanReducer>(
      std::make_unique<NcclReducer>(std::move(nccl), std::move(*driver), streamQuery));
}

} // namespace nnrt::collective

#else // !NNRT_COLLECTIVE_WITH_NCCL

namespace nnrt::collective {

nnc::StatusOr<std::unique_ptr<MeanReducer>> createNcclReducer() {
  return nnc::Status::error(
      "nccl: this nnrun was built without nccl.h or the CUDA headers (runtime/collective)");
}

} // namespace nnrt::collective

#endif
