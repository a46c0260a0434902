// Runs a plan in-process with nnc's runtime: its init function, then predict on zeros; prints
// the shape of each output.
#include "runtime/Executor.h"
#include "runtime/PlanLoader.h"
#include "runtime/device/Drivers.h"

#include <cstdio>

int main(int argc, char **argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s <model.plan>\n", argv[0]);
    return 2;
  }
  auto fail = [](const nnc::Status &status) {
    std::fprintf(stderr, "error: %s\n", status.message().c_str());
    return 1;
  };
  nnc::StatusOr<nnc::Plan> plan = nnrt::loadPlan(argv[1]);
  if (!plan.ok())
    return fail(plan.status());
  nnc::StatusOr<std::unique_ptr<nnrt::Device>> device = nnrt::createDevice("cpu");
  if (!device.ok())
    return fail(device.status());
  // The device must outlive the executor.
  auto exec = nnrt::Executor::prepare(std::move(*plan), **device);
  if (!exec.ok())
    return fail(exec.status());
  nnrt::Executor &e = **exec;
  if (nnc::Status s = e.run("init"); !s.ok())
    return fail(s);

  const nnc::Function *predict = e.function("predict");
  if (!predict)
    return fail(nnc::Status::error("the plan has no predict function"));
  for (const nnc::TensorSlice &input : predict->inputs()) {
    nnrt::HostTensor zeros(input.type().dtype(), nnrt::shapeOf(input.type()));
    if (nnc::Status s = e.setInput("predict", input.name(), zeros); !s.ok())
      return fail(s);
  }
  if (nnc::Status s = e.run("predict"); !s.ok())
    return fail(s);
  for (const nnc::TensorSlice &output : predict->outputs()) {
    nnc::StatusOr<nnrt::HostTensor> value = e.getOutput("predict", output.name());
    if (!value.ok())
      return fail(value.status());
    std::printf("%s: %s\n", output.name().c_str(), value->describe().c_str());
  }
  return 0;
}
