// Initializer fills. Values are computed in double and rounded once to float, so the only
// difference from PyTorch's distribution is the generator, not the formula.
#include "runtime/Initializers.h"

#include "runtime/Philox.h"
#include "support/Format.h"

#include <algorithm>
#include <cmath>

namespace nnrt {

nnc::StatusOr<Fans> fansOf(const nnc::Initializer &init, const Shape &shape) {
  Fans fans{init.fan_in(), init.fan_out()};
  bool needOut = init.kind() == nnc::Initializer::XAVIER_UNIFORM;
  if (fans.in != 0 && (fans.out != 0 || !needOut))
    return fans;
  if (shape.size() < 2)
    return nnc::Status::error("cannot derive fan_in/fan_out from shape " + formatShape(shape) +
                              " (rank < 2); the initializer must set them");
  int64_t receptive = 1;
  for (size_t i = 2; i < shape.size(); ++i)
    receptive *= shape[i];
  if (fans.in == 0)
    fans.in = shape[1] * receptive;
  if (fans.out == 0)
    fans.out = shape[0] * receptive;
  return fans;
}

nnc::Status checkInitializer(const nnc::Initializer &init, const nnc::TensorType &type) {
  using nnc::Initializer;
  if (type.dtype() != nnc::F32)
    return nnc::Status::error("initializing " + formatDType(type.dtype()) +
                              " parameters is not supported (f32 only)");
  switch (init.kind()) {
  case Initializer::ZEROS:
  case Initializer::ONES:
  case Initializer::CONSTANT:
  case Initializer::NORMAL:
    return nnc::Status();
  case Initializer::UNIFORM:
    if (!(init.low() <= init.high()))
      return nnc::Status::error("uniform initializer with low " + nnc::formatNumber(init.low()) +
                                " > high " + nnc::formatNumber(init.high()));
    return nnc::Status();
  case Initializer::KAIMING_UNIFORM:
  case Initializer::XAVIER_UNIFORM: {
    nnc::StatusOr<Fans> fans = fansOf(init, shapeOf(type));
    if (!fans.ok())
      return fans.status();
    if (fans->in <= 0 || fans->out < 0)
      return nnc::Status::error("initializer fan_in " + std::to_string(fans->in) +
                                " must be positive");
    return nnc::Status();
  }
  default:
    return nnc::Status::error("unknown initializer kind " + std::to_string(init.kind()));
  }
}

namespace {

/// Fills with low + (high - low) * u, u uniform in [0, 1) on a 2^-24 grid.
void fillUniform(double low, double high, uint64_t seed, uint64_t stream, int64_t count,
                 float *values) {
  for (int64_t i = 0; i < count; i += 4) {
    PhiloxCounter words = philoxBlock(seed, stream, static_cast<uint64_t>(i));
    for (int64_t j = 0; j < 4 && i + j < count; ++j)
      values[i + j] = static_cast<float>(low + (high - low) * uniformFromBits(words[j]));
  }
}

/// Box-Muller: words (0, 1) give elements 4b and 4b+1, words (2, 3) give 4b+2 and 4b+3.
void fillNormal(double mean, double stddev, uint64_t seed, uint64_t stream, int64_t count,
                float *values) {
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  for (int64_t i = 0; i < count; i += 4) {
    PhiloxCounter words = philoxBlock(seed, stream, static_cast<uint64_t>(i));
    for (int64_t pair = 0; pair < 2; ++pair) {
      double radius = std::sqrt(-2.0 * std::log(openUniformFromBits(words[2 * pair])));
      double angle = kTwoPi * uniformFromBits(words[2 * pair + 1]);
      int64_t index = i + 2 * pair;
      if (index < count)
        values[index] = static_cast<float>(mean + stddev * radius * std::cos(angle));
      if (index + 1 < count)
        values[index + 1] = static_cast<float>(mean + stddev * radius * std::sin(angle));
    }
  }
}

} // namespace

nnc::Status initialize(const nnc::Initializer &init, const nnc::TensorType &type, uint64_t seed,
                       uint64_t stream, float *values) {
  using nnc::Initializer;
  if (nnc::Status status = checkInitializer(init, type); !status.ok())
    return status;
  int64_t count = numElements(shapeOf(type));
  switch (init.kind()) {
  case Initializer::ZEROS:
  case Initializer::ONES:
  case Initializer::CONSTANT: {
    float value = init.kind() == Initializer::ZEROS  ? 0.0f
                  : init.kind() == Initializer::ONES ? 1.0f
                                                     : static_cast<float>(init.value());
    std::fill(values, values + count, value);
    break;
  }
  case Initializer::UNIFORM:
    fillUniform(init.low(), init.high(), seed, stream, count, values);
    break;
  case Initializer::NORMAL:
    fillNormal(init.mean(), init.stddev(), seed, stream, count, values);
    break;
  case Initializer::KAIMING_UNIFORM: {
    Fans fans = *fansOf(init, shapeOf(type));
    double gain = init.gain() != 0 ? init.gain() : std::sqrt(1.0 / 3.0);
    double bound = gain * std::sqrt(3.0 / static_cast<double>(fans.in));
    fillUniform(-bound, bound, seed, stream, count, values);
    break;
  }
  case Initializer::XAVIER_UNIFORM: {
    Fans fans = *fansOf(init, shapeOf(type));
    double gain = init.gain() != 0 ? init.gain() : 1.0;
    double bound = gain * std::sqrt(6.0 / static_cast<double>(fans.in + fans.out));
    fillUniform(-bound, bound, seed, stream, count, values);
    break;
  }
  default:
    break; // refused by checkInitializer
  }
  return nnc::Status();
}

} // namespace nnrt
