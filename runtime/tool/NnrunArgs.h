// nnrun's command line: the usage text, the options it sets and parseArgs, which reads them and
// checks their combinations before any file is opened.
#pragma once

#include "runtime/trainer/FitCommand.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace nnrt {

/// The usage text of nnrun's own flags (trainer::kFitUsage has --fit's).
extern const char *const kUsage;

struct NnrunOptions {
  std::string plan, predict, output, dumpDir, loadDir, checkpoint, device = "cpu";
  std::string exportOnnx;  // --export-onnx FILE
  int timedRuns = 0;
  int collectiveTimeout = 60;  // seconds
  bool printArena = false;
  bool collectiveStats = false;
  bool profile = false;
  std::string profileJson;  // --profile-json FILE (issue 23)
  bool adaptiveThreads = false;  // --adaptive-threads (issue 23)
  // --train; the flags below it only make sense with it, so parseArgs remembers which were given.
  int64_t trainSteps = 0;
  std::string features, labels;
  std::optional<float> learningRate;  // --lr; else trainingRate() of the plan
  std::vector<std::string> trainFlags;
  trainer::FitOptions fit;  // --fit and its flags (--lr included)
};

/// An error already phrased as "<file>: <problem>" (or "<flag>: <problem>").
struct NnrunFailure {
  std::string message;
  int exitCode = 1;  // 2: a command line that asks for nothing (the usage follows)
  bool sameOnEveryRank = false;  // under mpirun: rank 0 alone prints it (a job of the wrong size)
};


/// Reads `args` into `options` (and --help, --version), then checks the flags' combinations.
/// A failure is one line naming the flag or file; exit code 2 for a command line asking nothing.
std::optional<NnrunFailure> parseArgs(const std::vector<std::string> &args, NnrunOptions &options,
                                 bool &help, bool &version);

} // namespace nnrt
