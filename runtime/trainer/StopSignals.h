// SIGINT and SIGTERM while a training loop runs: the first one asks the loop to stop after the
// current step (it then writes a final checkpoint and says how to continue, and nnrun exits with
// 128 + the signal's number, 130 or 143); a second one ends the process at once, as usual.
// Under data parallelism the request travels with the step's loss reduction, so every rank
// stops after the same step even when the signal reached only some of them.
#pragma once

#include "support/Status.h"

#include <string>

namespace nnrt {
class Communicator;
} // namespace nnrt

namespace nnrt::trainer {

/// Installs the handlers for its lifetime; outside one, the signals keep their previous action
/// (a loop that does not check for them must not ignore them). `note` (a communicator's, may be
/// null) runs in the handler first: under mpirun the launcher follows its SIGTERM with SIGKILL
/// about a second later, so a rank blocked on a dead peer still says where it was.
class StopSignals {
public:
  explicit StopSignals(void (*note)() = nullptr);
  ~StopSignals();
  StopSignals(const StopSignals &) = delete;
  StopSignals &operator=(const StopSignals &) = delete;

  /// The signal that asked this process to stop (SIGINT or SIGTERM), 0 if none has. It stays
  /// set after the handlers are gone, for the exit code.
  static int received();
};

/// After a step: the step's `loss` becomes the mean over the ranks (when there are several)
/// and `stop` says whether any rank was asked to stop; one all-reduce carries both.
nnc::Status reduceLossAndStop(Communicator *group, const std::string &tag, float &loss,
                              bool &stop);
/// The same for a pipeline stage: the sum over `pipeline` (only the last stage has a loss, the
/// others pass 0), then the mean over `data`, the stage's replicas (either may be null).
nnc::Status reduceLossAndStop(Communicator *pipeline, Communicator *data, const std::string &tag,
                              float &loss, bool &stop);

} // namespace nnrt::trainer
