// encodePng: signature, IHDR, IDAT (each row prefixed by filter byte 0, deflated by zlib), IEND;
// each chunk is length, type, data, CRC-32 of type and data.
#include "runtime/monitor/Png.h"

#include <zlib.h>

namespace nnrt::monitor {

namespace {

void u32(std::string &out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8)
    out += char((v >> shift) & 0xff);
}

void chunk(std::string &out, const char *type, const std::string &data) {
  u32(out, uint32_t(data.size()));
  std::string body = std::string(type, 4) + data;
  out += body;
  u32(out, uint32_t(crc32(0, reinterpret_cast<const Bytef *>(body.data()), uInt(body.size()))));
}

} // namespace

std::string encodePng(const std::vector<uint8_t> &pixels, int width, int height, int channels) {
  std::string png = "\x89PNG\r\n\x1a\n", header;
  u32(header, uint32_t(width));
  u32(header, uint32_t(height));
  header += char(8);                       // bit depth
  header += char(channels == 3 ? 2 : 0);   // color type: RGB or gray
  header += std::string(3, '\0');          // deflate, adaptive filtering, no interlace
  chunk(png, "IHDR", header);
  std::string raw;
  size_t row = size_t(width) * channels;
  for (int y = 0; y < height; ++y) {
    raw += '\0';
    raw.append(reinterpret_cast<const char *>(pixels.data()) + y * row, row);
  }
  uLongf size = compressBound(uLong(raw.size()));
  std::string deflated(size, '\0');
  compress2(reinterpret_cast<Bytef *>(deflated.data()), &size,
            reinterpret_cast<const Bytef *>(raw.data()), uLong(raw.size()), 6);
  deflated.resize(size);
  chunk(png, "IDAT", deflated);
  chunk(png, "IEND", "");
  return png;
}

std::string base64(const std::string &bytes) {
  static const char *digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = uint8_t(bytes[i]) << 16 | uint8_t(bytes[i + 1]) << 8 | uint8_t(bytes[i + 2]);
    for (int k = 18; k >= 0; k -= 6)
      out += digits[(v >> k) & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16 | (i + 1 < bytes.size() ? uint8_t(bytes[i + 1]) << 8 : 0);
    out += digits[(v >> 18) & 63];
    out += digits[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? digits[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

} // namespace nnrt::monitor
