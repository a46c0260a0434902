// nnrun --profile-json: one line per command that ran while profiling,
//   {"function": "train_step", "command": "gemm 4096x128x512 (node 'h0.fc')", "node": "h0.fc",
//    "kind": "gemm", "calls": 6, "seconds": 0.0042, "best_seconds": 0.0039,
//    "flops": 536870912, "alone_hot": 0.0031,
//    "alone_cold": 0.0033, "alone_parked": 0.0032, "alone_one_thread": 0.0058,
//    "gemm": {"batch": 1, "m": 4096, ...}}
// where seconds is the mean per call in the step, best_seconds its fastest call, flops per call
// and the alone_* times the fastest runs of the same prepared library call by itself
// (Executor::CommandTime says how).
#include "runtime/tool/ProfileJson.h"

#include "runtime/Executor.h"

#include <fstream>
#include <set>
#include <sstream>

namespace nnrt {
namespace {

std::string quoted(const std::string &text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (static_cast<unsigned char>(c) < 0x20)
      continue; // names never hold control characters; drop rather than escape
    out += c;
  }
  return out + "\"";
}

const char *dtypeName(nnc::DType dtype) {
  return dtype == nnc::BF16 ? "bf16" : dtype == nnc::F16 ? "f16" : "f32";
}

std::string ints(const google::protobuf::RepeatedField<int64_t> &values) {
  std::string out = "[";
  for (int i = 0; i < values.size(); ++i)
    out += (i ? ", " : "") + std::to_string(values[i]);
  return out + "]";
}

/// The gemm's descriptor: what a standalone oneDNN call needs to repeat it.
std::string gemmFields(const nnc::Gemm &g) {
  std::ostringstream out;
  out << "{\"batch\": " << (g.batch() == 0 ? 1 : g.batch()) << ", \"m\": " << g.m()
      << ", \"n\": " << g.n() << ", \"k\": " << g.k()
      << ", \"transpose_b\": " << (g.transpose_b() ? "true" : "false")
      << ", \"broadcast_b\": " << (g.broadcast_b() ? "true" : "false")
      << ", \"bias\": " << (g.bias().size() ? "true" : "false")
      << ", \"relu\": " << (g.post_op() == nnc::POST_OP_RELU ? "true" : "false")
      << ", \"dtype\": \"" << dtypeName(g.dtype()) << "\", \"batch_dims\": "
      << ints(g.batch_dims()) << ", \"a_strides\": " << ints(g.a_strides())
      << ", \"b_strides\": " << ints(g.b_strides()) << ", \"c_strides\": " << ints(g.c_strides())
      << "}";
  return out.str();
}

/// The convolution's pass and shapes (NCHW input, OIHW weight).
std::string convFields(const nnc::Conv2d &conv) {
  const char *pass = conv.pass() == nnc::CONV_PASS_BACKWARD_DATA      ? "backward_data"
                     : conv.pass() == nnc::CONV_PASS_BACKWARD_WEIGHTS ? "backward_weights"
                                                                      : "forward";
  std::ostringstream out;
  out << "{\"pass\": \"" << pass << "\", \"input\": " << ints(conv.input_shape())
      << ", \"weight\": " << ints(conv.weight_shape()) << ", \"dtype\": \""
      << dtypeName(conv.dtype()) << "\"}";
  return out.str();
}

std::string record(const Executor::CommandTime &t) {
  const nnc::Command &c = *t.source;
  std::ostringstream out;
  out.precision(9);
  out << "{\"function\": " << quoted(t.function) << ", \"command\": " << quoted(t.command)
      << ", \"node\": " << quoted(c.node()) << ", \"kind\": "
      << quoted(t.command.substr(0, t.command.find(' '))) << ", \"calls\": " << t.calls
      << ", \"seconds\": " << t.seconds / double(t.calls) << ", \"best_seconds\": "
      << t.bestSeconds << ", \"flops\": " << t.flops;
  if (t.aloneHot > 0)
    out << ", \"alone_hot\": " << t.aloneHot << ", \"alone_cold\": " << t.aloneCold
        << ", \"alone_parked\": " << t.aloneParked << ", \"alone_one_thread\": " << t.aloneOne;
  if (c.has_gemm())
    out << ", \"gemm\": " << gemmFields(c.gemm());
  if (c.has_conv2d())
    out << ", \"conv2d\": " << convFields(c.conv2d());
  out << "}\n";
  return out.str();
}

} // namespace

std::optional<NnrunFailure> createProfileJson(const std::string &path) {
  if (!std::ofstream(path))
    return NnrunFailure{path + ": --profile-json: cannot write this file"};
  return std::nullopt;
}

std::optional<NnrunFailure> writeProfileJson(Executor &exec, const std::string &path) {
  // At most 20 runs per condition (a large GEMM's take tens of milliseconds each).
  constexpr int kRepetitions = 20;
  std::set<std::string> timed;
  for (const Executor::CommandTime &t : exec.commandTimes())
    if (t.flops > 0 && timed.insert(t.function).second)
      if (nnc::Status s = exec.timeLibraryCallsAlone(t.function, kRepetitions); !s.ok())
        return NnrunFailure{path + ": --profile-json: " + s.message()};
  std::ofstream out(path);
  for (const Executor::CommandTime &t : exec.commandTimes())
    out << record(t);
  if (!out.flush())
    return NnrunFailure{path + ": --profile-json: cannot write this file"};
  return std::nullopt;
}

} // namespace nnrt
