// A minimal PNG encoder for the report's thumbnails: 8-bit grayscale or RGB, filter 0, one
// zlib-compressed IDAT chunk.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace nnrt::monitor {

/// `pixels`: height rows of width * channels bytes; channels 1 (gray) or 3 (RGB).
std::string encodePng(const std::vector<uint8_t> &pixels, int width, int height, int channels);

std::string base64(const std::string &bytes);

} // namespace nnrt::monitor
