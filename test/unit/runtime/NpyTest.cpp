// .npy files: round trips for every supported dtype and rank, bytes exactly as NumPy writes them,
// and the one-line refusals.
#include "TestSupport.h"

#include "runtime/Npy.h"

namespace nnrt {
namespace {

/// A .npy file with the given header dict, as NumPy lays it out (version 1.0, 64-byte aligned).
std::string npyBytes(const std::string &dict, const std::string &data) {
  std::string header = dict;
  header.append(63 - (10 + header.size()) % 64, ' ');
  header += '\n';
  std::string bytes = "\x93NUMPY";
  bytes += '\x01';
  bytes += '\x00';
  bytes += char(header.size() & 0xff);
  bytes += char(header.size() >> 8);
  return bytes + header + data;
}

std::string floatBytes(const std::vector<float> &values) {
  return std::string(reinterpret_cast<const char *>(values.data()), values.size() * 4);
}

TEST(NpyTest, RoundTripsEveryDTypeAndRank) {
  for (nnc::DType dtype : {nnc::F32, nnc::F16, nnc::I64, nnc::I32})
    for (Shape shape : {Shape{}, Shape{5}, Shape{2, 3}, Shape{2, 1, 4, 3}, Shape{0, 4}}) {
      HostTensor tensor(dtype, shape);
      for (size_t i = 0; i < tensor.data.size(); ++i)
        tensor.data[i] = uint8_t(i * 7 + 1);
      std::string bytes = serializeNpy(tensor);
      EXPECT_EQ(bytes.find('\n') + 1, bytes.size() - tensor.data.size());
      EXPECT_EQ((bytes.size() - tensor.data.size()) % 64, 0u) << "data must start aligned";
      auto parsed = parseNpy(bytes);
      ASSERT_TRUE(parsed.ok()) << tensor.describe() << ": " << parsed.status().message();
      EXPECT_EQ(parsed->dtype, dtype);
      EXPECT_EQ(parsed->shape, shape);
      EXPECT_EQ(parsed->data, tensor.data);
    }
}

TEST(NpyTest, WritesNumPysBytes) {
  // np.save of a (2, 3) float32 array: this header, padded to 128 bytes, then the data.
  std::vector<float> values = {1, 2, 3, 4, 5, 6};
  EXPECT_EQ(serializeNpy(HostTensor::fromFloats({2, 3}, values)),
            npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                     floatBytes(values)));
  std::string vector = serializeNpy(HostTensor::fromFloats({3}, {1, 2, 3}));
  EXPECT_NE(vector.find("'shape': (3,), }"), std::string::npos);
  std::string scalar = serializeNpy(HostTensor::fromFloats({}, {1}));
  EXPECT_NE(scalar.find("'shape': (), }"), std::string::npos);
}

TEST(NpyTest, ReadsHeaderVariations) {
  std::string data = floatBytes({1, 2});
  for (std::string dict : {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
                           "{\"shape\": (2,), \"descr\": \"<f4\", \"fortran_order\": False}",
                           "{'descr':'<f4','fortran_order':False,'shape':(2L,)}",
                           "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }"}) {
    auto parsed = parseNpy(npyBytes(dict, data));
    ASSERT_TRUE(parsed.ok()) << dict << ": " << parsed.status().message();
    EXPECT_EQ(parsed->toFloats(), (std::vector<float>{1, 2})) << dict;
  }
}

TEST(NpyTest, ReadsVersion2) {
  std::string dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }";
  std::string header = dict + std::string(63 - (12 + dict.size()) % 64, ' ') + "\n";
  std::string bytes = std::string("\x93NUMPY\x02", 7) + '\0' + char(header.size()) +
                      std::string(3, '\0') + header + std::string("\x2a\0\0\0\0\0\0\0", 8);
  auto parsed = parseNpy(bytes);
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_EQ(parsed->dtype, nnc::I64);
  EXPECT_EQ(parsed->data[0], 42);
}

TEST(NpyTest, RefusesWithOneLine) {
  std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
  struct Case {
    std::string bytes, message;
  } cases[] = {
      {"", "not a .npy file"},
      {"PK\x03\x04 a zip file", "not a .npy file"},
      {std::string("\x93NUMPY\x01\x00\xff\x00{'descr'", 17), "truncated .npy header"},
      {std::string("\x93NUMPY\x09\x00\x00\x00", 10), "unsupported .npy format version 9.0"},
      {npyBytes(dict, floatBytes({1, 2, 3})),
       "truncated data: [2,2] f32 needs 16 bytes, the file has 12"},
      {npyBytes(dict, floatBytes({1, 2, 3, 4, 5})), "4 unexpected bytes after the data of [2,2] f32"},
      {npyBytes("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", ""),
       "unsupported dtype '>f4' (nnrun reads <f4, <f2, <i8, <i4)"},
      {npyBytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", ""),
       "unsupported dtype '<f8' (nnrun reads <f4, <f2, <i8, <i4)"},
      {npyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", floatBytes({1, 2, 3, 4})),
       "Fortran-order arrays are not supported (save with np.ascontiguousarray)"},
      {npyBytes("{'descr': '<f4', 'shape': (2, 2), }", ""), "malformed .npy header"},
      {npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -2), }", ""),
       "malformed .npy header"},
      {npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }",
                ""),
       "shape [99999999999,99999999999] is too large"},
      {npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", ""),
       "malformed .npy header"},
      {npyBytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), 'x': 1}", ""),
       "malformed .npy header"},
  };
  for (const Case &c : cases) {
    auto parsed = parseNpy(c.bytes);
    ASSERT_FALSE(parsed.ok()) << c.message;
    EXPECT_EQ(parsed.status().message(), c.message);
  }
}

TEST(NpyTest, FileErrorsNameTheFile) {
  std::filesystem::path dir = test::scratchDir();
  std::string path = dir / "input.npy";
  ASSERT_TRUE(writeFile(path, "not numpy at all").ok());
  EXPECT_EQ(readNpy(path).status().message(), path + ": not a .npy file");
  EXPECT_EQ(readNpy(dir / "missing.npy").status().message(),
            (dir / "missing.npy").string() + ": cannot read: No such file or directory");
  EXPECT_EQ(writeNpy(dir / "no" / "such" / "dir.npy", HostTensor(nnc::F32, {1})).message(),
            (dir / "no" / "such" / "dir.npy").string() + ": cannot write: No such file or directory");
  ASSERT_TRUE(writeNpy(path, HostTensor::fromFloats({2}, {3, 4})).ok());
  EXPECT_EQ(readNpy(path)->toFloats(), (std::vector<float>{3, 4}));
}

} // namespace
} // namespace nnrt
