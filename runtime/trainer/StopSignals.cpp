// StopSignals: a flag set by an async-signal-safe handler, installed with SA_RESETHAND so that
// the handler is spent after the first signal and a second one takes the default action.
#include "runtime/trainer/StopSignals.h"

#include "runtime/collective/Communicator.h"

#include <csignal>

namespace nnrt::trainer {
namespace {

volatile std::sig_atomic_t requested = 0;  // the signal number; a handler may only set such
void (*noteOnSignal)() = nullptr;

extern "C" void requestStop(int signal) {
  if (noteOnSignal)
    noteOnSignal();
  requested = signal;
}

struct sigaction previous[2];
constexpr int kSignals[2] = {SIGINT, SIGTERM};

} // namespace

StopSignals::StopSignals(void (*note)()) {
  requested = 0;
  noteOnSignal = note;
  struct sigaction action = {};
  action.sa_handler = requestStop;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESETHAND | SA_RESTART;  // reads and writes resume after the handler
  for (int i = 0; i < 2; ++i)
    sigaction(kSignals[i], &action, &previous[i]);
}

StopSignals::~StopSignals() {
  for (int i = 0; i < 2; ++i)
    sigaction(kSignals[i], &previous[i], nullptr);
}

int StopSignals::received() { return requested; }

nnc::Status reduceLossAndStop(Communicator *group, const std::string &tag, float &loss,
                              bool &stop) {
  if (!group || group->size() == 1) {
    stop = requested != 0;
    return nnc::Status();
  }
  double values[2] = {loss, double(requested)};
  if (nnc::Status s = group->allReduceSum(tag, values, 2); !s.ok())
    return s;
  loss = static_cast<float>(values[0] / group->size());
  stop = values[1] > 0;
  if (stop && requested == 0)  // another rank's signal (a sum of them): exit as it will
    requested = values[1] >= SIGTERM ? SIGTERM : SIGINT;
  return nnc::Status();
}

nnc::Status reduceLossAndStop(Communicator *pipeline, Communicator *data, const std::string &tag,
                              float &loss, bool &stop) {
  double values[2] = {loss, double(requested)};
  for (Communicator *group : {pipeline, data})
    if (group && group->size() > 1)
      if (nnc::Status s = group->allReduceSum(tag, values, 2); !s.ok())
        return s;
  loss = static_cast<float>(data && data->size() > 1 ? values[0] / data->size() : values[0]);
  stop = values[1] > 0;
  if (stop && requested == 0)  // another rank's signal (a sum of them): exit as it will
    requested = values[1] >= SIGTERM ? SIGTERM : SIGINT;
  return nnc::Status();
}

} // namespace nnrt::trainer
