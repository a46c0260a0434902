// The JSON-lines sink (--metrics-jsonl FILE): one object per event, "event" naming its kind
// ("step", "eval", "epoch", "anomaly"); non-finite numbers are null. Flushed at every evaluation
// and epoch end, so a plotting script can follow a running job.
#pragma once

#include "runtime/monitor/Hooks.h"
#include "support/StatusOr.h"

#include <memory>

namespace nnrt::monitor {

nnc::StatusOr<std::unique_ptr<Hook>> openJsonLines(const std::string &path);

/// The JSON object for each event (no newline), for the sink and its tests.
std::string toJson(const StepEvent &event);
std::string toJson(const EvalEvent &event);
std::string toJson(const EpochEvent &event);
std::string toJson(const AnomalyEvent &event);
std::string toJson(const SampleEvent &event);

} // namespace nnrt::monitor
