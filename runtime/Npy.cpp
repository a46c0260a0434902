// .npy reading and writing. The header is a Python dict literal; the parser accepts exactly what
// NumPy writes ({'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }) plus whitespace and
// quoting variations, and refuses anything else with a one-line reason.
#include "runtime/Npy.h"

#include "runtime/FileIO.h"

#include <cctype>

namespace nnrt {
namespace {

constexpr std::string_view kMagic = "\x93NUMPY";

struct DTypeName {
  nnc::DType dtype;
  std::string_view descr;
};
constexpr DTypeName kDTypes[] = {
    {nnc::F32, "<f4"}, {nnc::F16, "<f2"}, {nnc::I64, "<i8"}, {nnc::I32, "<i4"}};

/// A cursor over the header dict; every method returns false on a malformed header.
class HeaderParser {
public:
  explicit HeaderParser(std::string_view text) : text_(text) {}

  bool parse(std::string &descr, bool &fortranOrder, Shape &shape) {
    bool haveDescr = false, haveOrder = false, haveShape = false;
    if (!consume('{'))
      return false;
    while (!consume('}')) {
      std::string key;
      if (!parseString(key) || !consume(':'))
        return false;
      if (key == "descr") {
        haveDescr = parseString(descr);
      } else if (key == "fortran_order") {
        haveOrder = parseBool(fortranOrder);
      } else if (key == "shape") {
        haveShape = parseShape(shape);
      } else {
        return false;
      }
      if (!consume(',') && !peek('}'))
        return false;
    }
    return haveDescr && haveOrder && haveShape;
  }

private:
  void skipSpace() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_])))
      ++pos_;
  }
  bool peek(char c) {
    skipSpace();
    return pos_ < text_.size() && text_[pos_] == c;
  }
  bool consume(char c) {
    if (!peek(c))
      return false;
    ++pos_;
    return true;
  }
  bool parseString(std::string &out) {
    skipSpace();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"'))
      return false;
    char quote = text_[pos_++];
    size_t end = text_.find(quote, pos_);
    if (end == std::string_view::npos)
      return false;
    out = std::string(text_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return true;
  }
  bool parseBool(bool &out) {
    skipSpace();
    for (auto [word, value] : {std::pair{std::string_view("True"), true}, {"False", false}}) {
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        out = value;
        return true;
      }
    }
    return false;
  }
  bool parseShape(Shape &shape) {
    shape.clear();
    if (!consume('('))
      return false;
    while (!consume(')')) {
      skipSpace();
      int64_t dim = 0;
      size_t start = pos_;
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
        if (__builtin_mul_overflow(dim, 10, &dim) ||
            __builtin_add_overflow(dim, text_[pos_] - '0', &dim))
          return false;
        ++pos_;
      }
      if (pos_ == start)
        return false;
      if (pos_ < text_.size() && text_[pos_] == 'L') // Python 2 longs
        ++pos_;
      shape.push_back(dim);
      if (!consume(',') && !peek(')'))
        return false;
    }
    return true;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

uint32_t readLittleEndian(std::string_view bytes, size_t offset, size_t width) {
  uint32_t value = 0;
  for (size_t i = 0; i < width; ++i)
    value |= uint32_t(static_cast<uint8_t>(bytes[offset + i])) << (8 * i);
  return value;
}

} // namespace

nnc::StatusOr<HostTensor> parseNpy(std::string_view bytes) {
  using nnc::Status;
  if (bytes.size() < 10 || bytes.substr(0, kMagic.size()) != kMagic)
    return Status::error("not a .npy file");
  int major = static_cast<uint8_t>(bytes[6]), minor = static_cast<uint8_t>(bytes[7]);
  if (major < 1 || major > 3)
    return Status::error("unsupported .npy format version " + std::to_string(major) + "." +
                         std::to_string(minor));
  // Version 1.0 stores the header length in 2 bytes; 2.0 and 3.0 (utf-8 header) in 4.
  size_t lengthBytes = major == 1 ? 2 : 4;
  size_t headerStart = 8 + lengthBytes;
  if (bytes.size() < headerStart)
    return Status::error("truncated .npy header");
  size_t headerLength = readLittleEndian(bytes, 8, lengthBytes);
  if (bytes.size() - headerStart < headerLength)
    return Status::error("truncated .npy header");

  std::string descr;
  bool fortranOrder = false;
  HostTensor tensor;
  if (!HeaderParser(bytes.substr(headerStart, headerLength)).parse(descr, fortranOrder, tensor.shape))
    return Status::error("malformed .npy header");
  for (const DTypeName &name : kDTypes)
    if (name.descr == descr)
      tensor.dtype = name.dtype;
  if (tensor.dtype == nnc::DTYPE_UNSET)
    return Status::error("unsupported dtype '" + descr + "' (nnrun reads <f4, <f2, <i8, <i4)");
  if (fortranOrder)
    return Status::error("Fortran-order arrays are not supported (save with np.ascontiguousarray)");
  int64_t size = byteSize(tensor.dtype, tensor.shape);
  if (size < 0)
    return Status::error("shape " + formatShape(tensor.shape) + " is too large");

  std::string_view data = bytes.substr(headerStart + headerLength);
  if (static_cast<int64_t>(data.size()) < size)
    return Status::error("truncated data: " + tensor.describe() + " needs " +
                         std::to_string(size) + " bytes, the file has " +
                         std::to_string(data.size()));
  if (static_cast<int64_t>(data.size()) > size)
    return Status::error(std::to_string(data.size() - size) +
                         " unexpected bytes after the data of " + tensor.describe());
  tensor.data.assign(data.begin(), data.end());
  return tensor;
}

std::string serializeNpy(const HostTensor &tensor) {
  std::string descr = "<f4";
  for (const DTypeName &name : kDTypes)
    if (name.dtype == tensor.dtype)
      descr = std::string(name.descr);
  // Python's tuple syntax: (2, 3), (5,) and () for a scalar.
  std::string shape = "(";
  for (size_t i = 0; i < tensor.shape.size(); ++i)
    shape += (i ? ", " : "") + std::to_string(tensor.shape[i]);
  shape += tensor.shape.size() == 1 ? ",)" : ")";

  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // NumPy pads the header with spaces and ends it with '\n' so the data starts 64-byte aligned.
  bool large = header.size() + 1 + 10 > 65535;
  size_t prefix = large ? 12 : 10;
  size_t total = (prefix + header.size() + 1 + 63) / 64 * 64;
  header.append(total - prefix - header.size() - 1, ' ');
  header += '\n';

  std::string bytes(kMagic);
  bytes += char(large ? 2 : 1);
  bytes += char(0);
  for (size_t i = 0; i < (large ? 4u : 2u); ++i)
    bytes += char((header.size() >> (8 * i)) & 0xff);
  bytes += header;
  bytes.append(reinterpret_cast<const char *>(tensor.data.data()), tensor.data.size());
  return bytes;
}

nnc::StatusOr<HostTensor> readNpy(const std::string &path) {
  nnc::StatusOr<std::string> bytes = readFile(path);
  if (!bytes.ok())
    return bytes.status();
  nnc::StatusOr<HostTensor> tensor = parseNpy(*bytes);
  if (!tensor.ok())
    return nnc::Status::error(path + ": " + tensor.status().message());
  return tensor;
}

nnc::Status writeNpy(const std::string &path, const HostTensor &tensor) {
  return writeFile(path, serializeNpy(tensor));
}

} // namespace nnrt
