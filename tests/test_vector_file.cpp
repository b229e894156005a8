#include "vecaccel/vector_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "support/temp_dir.hpp"
#include "vecaccel/error.hpp"
#include "vecaccel/vector_file_group.hpp"

namespace vecaccel {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::byte>;

// A fresh directory per test, removed with everything in it afterwards.
using VectorFileTest = vecaccel::testing::TempDirTest;

template <class T>
void append(Bytes& bytes, T value) {
  const auto* p = reinterpret_cast<const std::byte*>(&value);
  bytes.insert(bytes.end(), p, p + sizeof value);
}

void append_text(Bytes& bytes, std::string_view text) {
  const auto* p = reinterpret_cast<const std::byte*>(text.data());
  bytes.insert(bytes.end(), p, p + text.size());
}

// One TEXMEX row: dimension header then the values as T.
template <class T>
void append_row(Bytes& bytes, std::int32_t dim, std::initializer_list<T> values) {
  append(bytes, dim);
  for (T v : values)
    append(bytes, v);
}

// A .npy file with the given header dict (padded like numpy) and raw data.
Bytes npy_file(std::string_view dict, const Bytes& data, int major = 1, std::size_t align = 64) {
  const std::size_t length_bytes = major == 1 ? 2 : 4;
  std::string header(dict);
  const std::size_t unpadded = 8 + length_bytes + header.size() + 1;
  header.append((align - unpadded % align) % align, ' ');
  header += '\n';
  Bytes bytes;
  append_text(bytes, "\x93NUMPY");
  bytes.push_back(std::byte(major));
  bytes.push_back(std::byte{0});
  if (major == 1) {
    append(bytes, static_cast<std::uint16_t>(header.size()));
  } else {
    append(bytes, static_cast<std::uint32_t>(header.size()));
  }
  append_text(bytes, header);
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

template <class T>
Bytes raw(std::initializer_list<T> values) {
  Bytes bytes;
  for (T v : values)
    append(bytes, v);
  return bytes;
}

void write_file(const fs::path& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good());
}

Bytes read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  Bytes bytes(text.size());
  std::memcpy(bytes.data(), text.data(), text.size());
  return bytes;
}

// Runs f, expects an Error with `code`, returns its message ("" and a failure otherwise).
template <class F>
std::string error_of(Errc code, F&& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(to_string(e.code()), to_string(code)) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected an Error with code " << to_string(code);
  return "";
}

Matrix<float> make_floats(std::size_t rows, std::size_t dim, unsigned seed = 1) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  Matrix<float> m{rows, dim, std::vector<float>(rows * dim)};
  for (float& v : m.values)
    v = normal(rng);
  return m;
}

Matrix<std::int32_t> make_ids(std::size_t rows, std::size_t dim) {
  Matrix<std::int32_t> m{rows, dim, std::vector<std::int32_t>(rows * dim)};
  for (std::size_t i = 0; i < m.values.size(); ++i) {
    m.values[i] = static_cast<std::int32_t>(i * 7919) - 1'000'000;
  }
  m.values.front() = std::numeric_limits<std::int32_t>::min();
  m.values.back() = std::numeric_limits<std::int32_t>::max();
  return m;
}

bool same_bits(const Matrix<float>& a, const Matrix<float>& b) {
  return a.rows == b.rows && a.dim == b.dim && a.values.size() == b.values.size() &&
         std::memcmp(a.values.data(), b.values.data(), a.values.size() * sizeof(float)) == 0;
}

Matrix<float> parse_f(const Bytes& bytes, VectorFileFormat format, std::string_view name = "t") {
  return parse_vectors(bytes, format, name);
}

// ---------------------------------------------------------------------------------------------
// format_from_path

TEST(FormatFromPath, ExtensionIsCaseInsensitive) {
  EXPECT_EQ(format_from_path("a/base.fvecs"), VectorFileFormat::fvecs);
  EXPECT_EQ(format_from_path("B.BVECS"), VectorFileFormat::bvecs);
  EXPECT_EQ(format_from_path("gt.IVecs"), VectorFileFormat::ivecs);
  EXPECT_EQ(format_from_path("x.NPY"), VectorFileFormat::npy);
}

TEST(FormatFromPath, UnknownExtensionIsInvalidArgumentNamingPath) {
  const auto msg = error_of(Errc::invalid_argument, [] { format_from_path("dir/base.txt"); });
  EXPECT_NE(msg.find("dir/base.txt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'.txt'"), std::string::npos) << msg;
  error_of(Errc::invalid_argument, [] { format_from_path("noext"); });
  error_of(Errc::invalid_argument, [] { format_from_path("base.fvecs.gz"); });
  error_of(Errc::invalid_argument, [] { format_from_path("dir.fvecs/"); });
}

// ---------------------------------------------------------------------------------------------
// Round trips

TEST_F(VectorFileTest, FvecsRoundTripIsExact) {
  auto m = make_floats(37, 13);
  m.values[0] = -0.0f;
  m.values[1] = std::numeric_limits<float>::denorm_min();
  m.values[2] = std::numeric_limits<float>::max();
  write_vectors(path("a.fvecs"), m);
  EXPECT_EQ(fs::file_size(path("a.fvecs")), 37 * (4 + 13 * 4));
  EXPECT_TRUE(same_bits(read_vectors(path("a.fvecs")), m));
}

TEST_F(VectorFileTest, NpyVectorsRoundTripIsExact) {
  const auto m = make_floats(5, 130);
  write_vectors(path("a.npy"), m);
  EXPECT_TRUE(same_bits(read_vectors(path("a.npy")), m));
}

TEST_F(VectorFileTest, NanAndInfPassThroughUnchanged) {
  Matrix<float> m{1, 3, {std::nanf(""), std::numeric_limits<float>::infinity(), -1.5f}};
  for (const char* name : {"n.fvecs", "n.npy"}) {
    write_vectors(path(name), m);
    const auto back = read_vectors(path(name));
    EXPECT_TRUE(same_bits(back, m)) << name;
    EXPECT_TRUE(std::isnan(back.row(0)[0])) << name;
  }
}

TEST_F(VectorFileTest, IvecsIdsRoundTripIsExact) {
  const auto m = make_ids(11, 100);
  write_ids(path("gt.ivecs"), m);
  EXPECT_EQ(read_ids(path("gt.ivecs")), m);
}

TEST_F(VectorFileTest, NpyIdsRoundTripIsExact) {
  const auto m = make_ids(3, 10);
  write_ids(path("gt.npy"), m);
  EXPECT_EQ(read_ids(path("gt.npy")), m);
}

TEST_F(VectorFileTest, ZeroRowFilesRoundTrip) {
  const Matrix<float> none{0, 16, {}};
  write_vectors(path("e.fvecs"), none);
  EXPECT_EQ(fs::file_size(path("e.fvecs")), 0u);
  EXPECT_EQ(read_vectors(path("e.fvecs")), (Matrix<float>{}));  // TEXMEX stores no dim
  write_vectors(path("e.npy"), none);
  EXPECT_EQ(read_vectors(path("e.npy")), none);  // npy keeps the shape (0, 16)
  write_ids(path("e.ivecs"), Matrix<std::int32_t>{});
  EXPECT_EQ(read_ids(path("e.ivecs")), Matrix<std::int32_t>{});
  write_ids(path("e2.npy"), Matrix<std::int32_t>{0, 4, {}});
  EXPECT_EQ(read_ids(path("e2.npy")), (Matrix<std::int32_t>{0, 4, {}}));
  EXPECT_EQ(parse_f({}, VectorFileFormat::bvecs), Matrix<float>{});
}

TEST_F(VectorFileTest, OverwriteReplacesExistingTarget) {
  write_vectors(path("a.fvecs"), make_floats(10, 4, 1));
  const auto second = make_floats(2, 8, 2);
  write_vectors(path("a.fvecs"), second);
  EXPECT_EQ(read_vectors(path("a.fvecs")), second);
  EXPECT_EQ(entries(), std::vector<std::string>{"a.fvecs"});
}

TEST_F(VectorFileTest, MatrixRowIsASpanOfDimValues) {
  Matrix<float> m{2, 3, {1, 2, 3, 4, 5, 6}};
  EXPECT_EQ(m.row(1).size(), 3u);
  EXPECT_EQ(m.row(1)[0], 4.0f);
  m.row(0)[2] = 9;
  EXPECT_EQ(m.values[2], 9.0f);
}

// ---------------------------------------------------------------------------------------------
// Conversions

TEST_F(VectorFileTest, BvecsConvertsBytesToFloat) {
  Bytes bytes;
  append_row<std::uint8_t>(bytes, 3, {0, 128, 255});
  append_row<std::uint8_t>(bytes, 3, {1, 2, 3});
  write_file(path("b.bvecs"), bytes);
  const Matrix<float> expected{2, 3, {0, 128, 255, 1, 2, 3}};
  EXPECT_EQ(parse_f(bytes, VectorFileFormat::bvecs), expected);
  EXPECT_EQ(read_vectors(path("b.bvecs")), expected);
}

TEST_F(VectorFileTest, IvecsConvertsToFloatExactlyUpToTwoPow24) {
  Bytes bytes;
  append_row<std::int32_t>(bytes, 4, {-(1 << 24), (1 << 24), 0, -7});
  write_file(path("i.ivecs"), bytes);
  const Matrix<float> expected{1, 4, {-16777216.0f, 16777216.0f, 0.0f, -7.0f}};
  EXPECT_EQ(read_vectors(path("i.ivecs")), expected);
}

TEST_F(VectorFileTest, IvecsBeyondTwoPow24AsFloatIsInvalidArgument) {
  Bytes bytes;
  append_row<std::int32_t>(bytes, 2, {1, 2});
  append_row<std::int32_t>(bytes, 2, {3, (1 << 24) + 1});
  const auto msg = error_of(Errc::invalid_argument,
                            [&] { parse_vectors(bytes, VectorFileFormat::ivecs, "gt.ivecs"); });
  EXPECT_NE(msg.find("gt.ivecs: row 1, column 1: value 16777217"), std::string::npos) << msg;
  // The same file is fine as ids.
  EXPECT_EQ(parse_ids(bytes, VectorFileFormat::ivecs, "gt.ivecs").values[3], (1 << 24) + 1);
}

TEST_F(VectorFileTest, NpyInt64IdsConvertWithRangeCheck) {
  const auto ok = npy_file("{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }",
                           raw<std::int64_t>({-5, 2147483647, -2147483648LL, 0}));
  EXPECT_EQ(parse_ids(ok, VectorFileFormat::npy, "gt.npy"),
            (Matrix<std::int32_t>{2, 2, {-5, 2147483647, -2147483647 - 1, 0}}));
  const auto bad = npy_file("{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }",
                            raw<std::int64_t>({1, 2, 3, 2147483648LL}));
  const auto msg =
      error_of(Errc::invalid_argument, [&] { parse_ids(bad, VectorFileFormat::npy, "gt.npy"); });
  EXPECT_NE(msg.find("row 1, column 1: value 2147483648 does not fit in int32"), std::string::npos)
      << msg;
}

TEST_F(VectorFileTest, IdsFromFloatFormatsAreInvalidArgument) {
  write_vectors(path("v.fvecs"), make_floats(2, 2));
  error_of(Errc::invalid_argument, [&] { read_ids(path("v.fvecs")); });
  error_of(Errc::invalid_argument, [&] { read_ids(path("missing.bvecs")); });
  error_of(Errc::invalid_argument, [] { parse_ids({}, VectorFileFormat::fvecs, "x"); });
  const auto f4 =
      npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", raw<float>({1.0f}));
  const auto msg = error_of(Errc::io_error, [&] { parse_ids(f4, VectorFileFormat::npy, "x.npy"); });
  EXPECT_NE(msg.find("dtype '<f4' unsupported, need '<i4' or '<i8'"), std::string::npos) << msg;
}

// ---------------------------------------------------------------------------------------------
// npy headers

TEST_F(VectorFileTest, NpyWriterProducesNumpyHeader) {
  write_vectors(path("a.npy"), make_floats(2, 3));
  const auto bytes = read_file(path("a.npy"));
  ASSERT_EQ(bytes.size(), 128u + 24u);
  const std::string text(reinterpret_cast<const char*>(bytes.data()), 128);
  // What numpy.save writes for a (2, 3) float32 array: version 1.0, header length 118.
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  EXPECT_EQ(text, std::string("\x93NUMPY\x01\x00\x76\x00", 10) + dict +
                      std::string(128 - 10 - dict.size() - 1, ' ') + "\n");
}

TEST_F(VectorFileTest, NpyAcceptsHeaderVariants) {
  const auto data = raw<float>({1, 2, 3, 4, 5, 6});
  const Matrix<float> two_by_three{2, 3, {1, 2, 3, 4, 5, 6}};
  const Matrix<float> one_by_six{1, 6, {1, 2, 3, 4, 5, 6}};
  struct Case {
    std::string dict;
    int major;
    std::size_t align;
    Matrix<float> expected;
  };
  const std::vector<Case> cases = {
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 1, 64, two_by_three},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 1, 16, two_by_three},
      {"{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}", 1, 1, two_by_three},
      {"{\"descr\":\"<f4\",\"fortran_order\":False,\"shape\":(2,3)}", 1, 1, two_by_three},
      {" {  'descr' : '<f4' ,\t'fortran_order' :False , 'shape' : ( 2 , 3 , ) , } ", 1, 64,
       two_by_three},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }", 1, 64, two_by_three},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 2, 64, two_by_three},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 3, 64, two_by_three},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", 1, 64, one_by_six},
      {"{'descr': '<f4', 'fortran_order': True, 'shape': (6,), }", 1, 64, one_by_six},
      {"{'descr': '<f4', 'fortran_order': True, 'shape': (1, 6), }", 1, 64, one_by_six},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.dict + " v" + std::to_string(c.major));
    EXPECT_EQ(parse_f(npy_file(c.dict, data, c.major, c.align), VectorFileFormat::npy), c.expected);
  }
  const auto empty = npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }", {});
  EXPECT_EQ(parse_f(empty, VectorFileFormat::npy), Matrix<float>{});
}

TEST_F(VectorFileTest, NpyUnsupportedDtypeIsNamed) {
  const auto bytes =
      npy_file("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }", raw<double>({1.0}));
  const auto msg =
      error_of(Errc::io_error, [&] { parse_f(bytes, VectorFileFormat::npy, "x.npy"); });
  EXPECT_NE(msg.find("x.npy: dtype '<f8' unsupported, need '<f4'"), std::string::npos) << msg;
}

TEST_F(VectorFileTest, NpyFortranOrderMatrixIsRejected) {
  const auto bytes = npy_file("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                              raw<float>({1, 2, 3, 4, 5, 6}));
  const auto msg = error_of(Errc::io_error, [&] { parse_f(bytes, VectorFileFormat::npy); });
  EXPECT_NE(msg.find("fortran_order True is unsupported for shape (2, 3)"), std::string::npos)
      << msg;
}

TEST_F(VectorFileTest, NpyMoreThanTwoDimensionsIsRejected) {
  const auto bytes = npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3), }",
                              raw<float>({1, 2, 3, 4, 5, 6}));
  const auto msg = error_of(Errc::io_error, [&] { parse_f(bytes, VectorFileFormat::npy); });
  EXPECT_NE(msg.find("shape (1, 2, 3) has 3 dimensions, need 1 or 2"), std::string::npos) << msg;
  const auto scalar =
      npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", raw<float>({1}));
  error_of(Errc::io_error, [&] { parse_f(scalar, VectorFileFormat::npy); });
}

TEST_F(VectorFileTest, NpyTruncatedDataNamesSizes) {
  const auto bytes = npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                              raw<float>({1, 2, 3, 4, 5}));
  const auto msg =
      error_of(Errc::io_error, [&] { parse_f(bytes, VectorFileFormat::npy, "x.npy"); });
  EXPECT_NE(msg.find("truncated at byte 148: shape (2, 3) of '<f4' needs 24 data bytes from byte "
                     "128, 20 left"),
            std::string::npos)
      << msg;
}

TEST_F(VectorFileTest, NpyTrailingBytesAreRejected) {
  const auto bytes = npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }",
                              raw<float>({1, 2, 3, 4}));
  const auto msg = error_of(Errc::io_error, [&] { parse_f(bytes, VectorFileFormat::npy); });
  EXPECT_NE(msg.find("4 trailing bytes after the data"), std::string::npos) << msg;
}

TEST_F(VectorFileTest, NpyBadPreambleIsIoError) {
  auto bytes =
      npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", raw<float>({1}));
  auto bad_magic = bytes;
  bad_magic[1] = std::byte{'X'};
  EXPECT_NE(error_of(Errc::io_error, [&] { parse_f(bad_magic, VectorFileFormat::npy); })
                .find("missing magic"),
            std::string::npos);
  auto bad_version = bytes;
  bad_version[6] = std::byte{4};
  EXPECT_NE(error_of(Errc::io_error, [&] { parse_f(bad_version, VectorFileFormat::npy); })
                .find("unsupported .npy version 4.0"),
            std::string::npos);
  for (std::ptrdiff_t size : {0, 3, 7, 9}) {
    SCOPED_TRACE(size);
    error_of(Errc::io_error,
             [&] { parse_f(Bytes(bytes.begin(), bytes.begin() + size), VectorFileFormat::npy); });
  }
  const Bytes cut(bytes.begin(), bytes.begin() + 40);
  const auto msg = error_of(Errc::io_error, [&] { parse_f(cut, VectorFileFormat::npy); });
  EXPECT_NE(msg.find("truncated at byte 10: header needs 118 bytes, 30 left"), std::string::npos)
      << msg;
}

TEST_F(VectorFileTest, NpyMalformedHeadersAreIoErrors) {
  const std::vector<std::string> dicts = {
      "",
      "{}",
      "{'descr': '<f4', 'shape': (1,), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}",
      "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}",
      "{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}",
      "{'descr': '<f4', 'fortran_order': false, 'shape': (1,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': [1]}",
      "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x",
      "{'descr': '<f4' 'fortran_order': False, 'shape': (1,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000000000)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 0)}",
  };
  for (const auto& dict : dicts) {
    SCOPED_TRACE(dict);
    error_of(Errc::io_error,
             [&] { parse_f(npy_file(dict, raw<float>({1})), VectorFileFormat::npy); });
  }
  const auto msg = error_of(Errc::io_error, [&] {
    parse_f(npy_file("{'descr': '<f4' 'shape': (1,)}", raw<float>({1})), VectorFileFormat::npy,
            "h.npy");
  });
  EXPECT_NE(msg.find("h.npy: malformed header at byte 26: expected ',' or '}'"), std::string::npos)
      << msg;
}

// ---------------------------------------------------------------------------------------------
// Malformed TEXMEX

TEST_F(VectorFileTest, TruncatedFvecsNamesByteOffset) {
  Bytes bytes;
  append_row<float>(bytes, 3, {1, 2, 3});
  append_row<float>(bytes, 3, {4, 5, 6});
  append_row<float>(bytes, 3, {7, 8, 9});
  bytes.erase(bytes.end() - 11, bytes.end());
  const auto msg =
      error_of(Errc::io_error, [&] { parse_f(bytes, VectorFileFormat::fvecs, "q.fvecs"); });
  EXPECT_NE(msg.find("q.fvecs: truncated at byte 32: row 2 needs 16 bytes, 5 left"),
            std::string::npos)
      << msg;
  const auto header = error_of(Errc::io_error, [&] {
    parse_f(Bytes(bytes.begin(), bytes.begin() + 34), VectorFileFormat::fvecs, "q.fvecs");
  });
  EXPECT_NE(header.find("truncated at byte 32: row 2 needs 4 bytes for its dimension, 2 left"),
            std::string::npos)
      << header;
  error_of(Errc::io_error, [&] { parse_f(Bytes(3), VectorFileFormat::fvecs); });
}

TEST_F(VectorFileTest, InconsistentDimensionNamesRow) {
  Bytes bytes;
  append_row<float>(bytes, 2, {1, 2});
  append_row<float>(bytes, 2, {3, 4});
  append_row<float>(bytes, 3, {5, 6, 7});
  const auto msg =
      error_of(Errc::io_error, [&] { parse_f(bytes, VectorFileFormat::fvecs, "base.fvecs"); });
  EXPECT_NE(msg.find("base.fvecs: row 2 has dimension 3, expected 2"), std::string::npos) << msg;
}

TEST_F(VectorFileTest, NonPositiveDimensionIsIoError) {
  for (std::int32_t dim : {0, -1, std::numeric_limits<std::int32_t>::min()}) {
    Bytes bytes;
    append_row<float>(bytes, 1, {1});
    append_row<float>(bytes, dim, {});
    const auto msg = error_of(Errc::io_error, [&] { parse_f(bytes, VectorFileFormat::fvecs); });
    EXPECT_NE(msg.find("row 1 has dimension " + std::to_string(dim) + ", must be in 1..1000000"),
              std::string::npos)
        << msg;
  }
}

TEST_F(VectorFileTest, HugeDimensionIsRejectedBeforeAllocating) {
  Bytes bytes;
  append_row<float>(bytes, 1'000'001, {1});
  error_of(Errc::io_error, [&] { parse_f(bytes, VectorFileFormat::fvecs); });
  // In range but the data isn't there: a truncation error, no 4 MB row allocated for it.
  Bytes big;
  append_row<float>(big, 1'000'000, {1, 2});
  const auto msg = error_of(Errc::io_error, [&] { parse_f(big, VectorFileFormat::fvecs); });
  EXPECT_NE(msg.find("row 0 needs 4000004 bytes, 12 left"), std::string::npos) << msg;
}

// ---------------------------------------------------------------------------------------------
// Files: streaming, progress, errors

// Rows of dim 1000 floats: 4004 bytes each; 2500 rows span several 4 MiB chunks.
Bytes big_fvecs(std::size_t rows, std::size_t bad_row = SIZE_MAX) {
  const auto m = make_floats(rows, 1000, 3);
  Bytes bytes;
  for (std::size_t r = 0; r < rows; ++r) {
    append(bytes, static_cast<std::int32_t>(r == bad_row ? 999 : 1000));
    const auto row = std::as_bytes(m.row(r));
    bytes.insert(bytes.end(), row.begin(), row.end());
  }
  return bytes;
}

TEST_F(VectorFileTest, LargeFileStreamsAndReportsProgress) {
  const auto bytes = big_fvecs(2500);
  write_file(path("big.fvecs"), bytes);
  std::vector<std::pair<std::uint64_t, std::uint64_t>> calls;
  const auto m = read_vectors(path("big.fvecs"), [&](std::uint64_t done, std::uint64_t total) {
    calls.emplace_back(done, total);
  });
  EXPECT_EQ(m, parse_f(bytes, VectorFileFormat::fvecs));
  ASSERT_GE(calls.size(), 3u);
  EXPECT_TRUE(std::is_sorted(calls.begin(), calls.end()));
  EXPECT_EQ(calls.back(), (std::pair<std::uint64_t, std::uint64_t>{bytes.size(), bytes.size()}));

  calls.clear();
  write_vectors(path("big.npy"), m,
                [&](std::uint64_t done, std::uint64_t total) { calls.emplace_back(done, total); });
  ASSERT_GE(calls.size(), 3u);
  EXPECT_EQ(calls.back().first, fs::file_size(path("big.npy")));
  EXPECT_EQ(read_vectors(path("big.npy")), m);
}

TEST_F(VectorFileTest, FileErrorsMatchInMemoryErrors) {
  auto bytes = big_fvecs(2500, 2100);  // bad row in a later chunk
  write_file(path("bad.fvecs"), bytes);
  const auto in_memory =
      error_of(Errc::io_error, [&] { parse_vectors(bytes, VectorFileFormat::fvecs, "bad.fvecs"); });
  const auto from_file = error_of(Errc::io_error, [&] { read_vectors(path("bad.fvecs")); });
  EXPECT_NE(in_memory.find("row 2100 has dimension 999, expected 1000"), std::string::npos);
  EXPECT_EQ(from_file.substr(from_file.find(": row")), in_memory.substr(in_memory.find(": row")));

  bytes = big_fvecs(2500);
  bytes.erase(bytes.end() - 100, bytes.end());
  write_file(path("cut.fvecs"), bytes);
  const auto cut = error_of(Errc::io_error, [&] { read_vectors(path("cut.fvecs")); });
  EXPECT_NE(cut.find("truncated at byte 10005996: row 2499 needs 4004 bytes, 3904 left"),
            std::string::npos)
      << cut;
}

TEST_F(VectorFileTest, NpyInt64FileConvertsAcrossChunks) {
  Bytes data;
  const std::size_t count = 700'000;  // 5.6 MB of '<i8': more than one chunk
  for (std::size_t i = 0; i < count; ++i)
    append(data, static_cast<std::int64_t>(i) - 5);
  write_file(path("gt.npy"),
             npy_file("{'descr': '<i8', 'fortran_order': False, 'shape': (7000, 100), }", data));
  const auto m = read_ids(path("gt.npy"));
  ASSERT_EQ(m.rows, 7000u);
  EXPECT_EQ(m.values[0], -5);
  EXPECT_EQ(m.values[count - 1], static_cast<std::int32_t>(count) - 6);
}

TEST_F(VectorFileTest, MissingFileIsIoErrorWithPathAndReason) {
  const auto msg = error_of(Errc::io_error, [&] { read_vectors(path("nope.fvecs")); });
  EXPECT_NE(msg.find(path("nope.fvecs").string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;
}

TEST_F(VectorFileTest, DirectoryIsIoError) {
  fs::create_directory(path("d.npy"));
  const auto msg = error_of(Errc::io_error, [&] { read_vectors(path("d.npy")); });
  EXPECT_NE(msg.find("Is a directory"), std::string::npos) << msg;
}

TEST_F(VectorFileTest, ReadsFromPipe) {
  const auto fifo = path("p.fvecs");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  Bytes bytes;
  append_row<float>(bytes, 2, {1, 2});
  // O_RDWR on a FIFO opens without waiting for a reader; the data fits the pipe buffer, so the
  // write cannot block even if the reader fails.
  const int fd = ::open(fifo.c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  std::thread closer([fd] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ::close(fd);
  });
  const auto m = read_vectors(fifo);
  closer.join();
  EXPECT_EQ(m, (Matrix<float>{1, 2, {1, 2}}));
}

// ---------------------------------------------------------------------------------------------
// Writer safety

TEST_F(VectorFileTest, WriteIntoMissingDirectoryLeavesNothing) {
  const auto target = path("nodir") / "x.fvecs";
  const auto msg = error_of(Errc::io_error, [&] { write_vectors(target, make_floats(2, 2)); });
  EXPECT_NE(msg.find("No such file or directory"), std::string::npos) << msg;
  EXPECT_NE(msg.find(target.string()), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(path("nodir")));
  EXPECT_TRUE(entries().empty());
}

TEST_F(VectorFileTest, FailedRenameRemovesTempFile) {
  fs::create_directory(path("x.ivecs"));  // rename() cannot replace a directory with a file
  error_of(Errc::io_error, [&] { write_ids(path("x.ivecs"), make_ids(2, 2)); });
  EXPECT_EQ(entries(), std::vector<std::string>{"x.ivecs"});
  EXPECT_TRUE(fs::is_directory(path("x.ivecs")));
}

TEST_F(VectorFileTest, FailureMidWriteKeepsOldTarget) {
  const auto old = make_floats(3, 3, 7);
  write_vectors(path("a.fvecs"), old);
  struct Abort {};
  EXPECT_THROW(write_vectors(path("a.fvecs"), make_floats(5000, 300),
                             [](std::uint64_t done, std::uint64_t total) {
                               if (done > total / 2) throw Abort{};
                             }),
               Abort);
  EXPECT_EQ(read_vectors(path("a.fvecs")), old);
  EXPECT_EQ(entries(), std::vector<std::string>{"a.fvecs"});
}

TEST_F(VectorFileTest, TempFileSitsBesideTargetUntilRename) {
  std::vector<std::string> seen;
  write_vectors(path("t.npy"), make_floats(2, 2), [&](std::uint64_t, std::uint64_t) {
    if (seen.empty()) seen = entries();
  });
  ASSERT_EQ(seen.size(), 1u);
  const std::string prefix = "t.npy.tmp-" + std::to_string(::getpid()) + "-";
  EXPECT_EQ(seen[0].rfind(prefix, 0), 0u) << seen[0];
  EXPECT_GT(seen[0].size(), prefix.size());
  EXPECT_EQ(entries(), std::vector<std::string>{"t.npy"});
}

TEST_F(VectorFileTest, WriterRejectsLossyFormatsAndBadMatrices) {
  const auto m = make_floats(2, 2);
  error_of(Errc::invalid_argument, [&] { write_vectors(path("a.bvecs"), m); });
  error_of(Errc::invalid_argument, [&] { write_vectors(path("a.ivecs"), m); });
  error_of(Errc::invalid_argument, [&] { write_vectors(path("a.txt"), m); });
  error_of(Errc::invalid_argument, [&] { write_ids(path("a.fvecs"), make_ids(2, 2)); });
  const auto msg = error_of(Errc::invalid_argument, [&] {
    write_vectors(path("a.fvecs"), Matrix<float>{2, 3, {1, 2}});
  });
  EXPECT_NE(msg.find("matrix has 2 values, expected rows x dim = 2 x 3"), std::string::npos) << msg;
  error_of(Errc::invalid_argument, [&] { write_vectors(path("a.npy"), Matrix<float>{3, 0, {}}); });
  error_of(Errc::invalid_argument, [&] {
    write_vectors(path("a.fvecs"), Matrix<float>{1, 1'000'001, std::vector<float>(1'000'001)});
  });
  EXPECT_TRUE(entries().empty());
}

// ---------------------------------------------------------------------------------------------
// Billion-scale formats: .fbin, .u8bin, .i8bin, .ibin and the ground-truth layout

// A .?bin file: int32 rows, int32 dim, then the values.
template <class T>
Bytes bin_file(std::int32_t rows, std::int32_t dim, const std::vector<T>& values) {
  Bytes bytes;
  append(bytes, rows);
  append(bytes, dim);
  for (T v : values)
    append(bytes, v);
  return bytes;
}

TEST_F(VectorFileTest, BinFormatsRoundTripExactly) {
  const auto f = make_floats(5, 3);
  write_vectors(path("a.fbin"), f);
  EXPECT_TRUE(same_bits(read_vectors(path("a.fbin")), f));
  EXPECT_EQ(read_file(path("a.fbin")), bin_file<float>(5, 3, f.values));

  Matrix<std::uint8_t> u8{2, 3, {0, 1, 2, 128, 254, 255}};
  write_vectors(path("a.u8bin"), u8);
  EXPECT_EQ(read_u8_vectors(path("a.u8bin")), u8);
  EXPECT_EQ(read_vectors(path("a.u8bin")), (Matrix<float>{2, 3, {0, 1, 2, 128, 254, 255}}));

  Matrix<std::int8_t> i8{3, 1, {-128, 0, 127}};
  write_vectors(path("a.i8bin"), i8);
  EXPECT_EQ(read_i8_vectors(path("a.i8bin")), i8);
  EXPECT_EQ(read_vectors(path("a.i8bin")), (Matrix<float>{3, 1, {-128, 0, 127}}));

  const auto ids = make_ids(4, 2);
  write_ids(path("a.ibin"), ids);
  EXPECT_EQ(read_ids(path("a.ibin")), ids);
  EXPECT_EQ(format_from_path("X.U8BIN"), VectorFileFormat::u8bin);
}

TEST_F(VectorFileTest, ByteVectorsAlsoRoundTripThroughBvecs) {
  Matrix<std::uint8_t> u8{2, 2, {7, 8, 9, 255}};
  write_vectors(path("a.bvecs"), u8);
  EXPECT_EQ(read_u8_vectors(path("a.bvecs")), u8);
  EXPECT_EQ(read_vectors(path("a.bvecs")), (Matrix<float>{2, 2, {7, 8, 9, 255}}));
}

TEST_F(VectorFileTest, EmptyBinFileRoundTrips) {
  write_vectors(path("e.fbin"), Matrix<float>{});
  EXPECT_EQ(read_file(path("e.fbin")), bin_file<float>(0, 0, {}));
  EXPECT_EQ(read_vectors(path("e.fbin")), Matrix<float>{});
  EXPECT_EQ(parse_f(bin_file<float>(0, 7, {}), VectorFileFormat::fbin).dim, 7u);
}

TEST_F(VectorFileTest, GroundTruthRoundTripsAndItsIdsReadAsIds) {
  GroundTruth truth{make_ids(3, 2), make_floats(3, 2)};
  write_ground_truth(path("gt.ibin"), truth);
  const Bytes bytes = read_file(path("gt.ibin"));
  Bytes want = bin_file<std::int32_t>(3, 2, truth.ids.values);
  for (float v : truth.distances.values)
    append(want, v);
  EXPECT_EQ(bytes, want);
  const GroundTruth again = read_ground_truth(path("gt.ibin"));
  EXPECT_EQ(again.ids, truth.ids);
  EXPECT_TRUE(same_bits(again.distances, truth.distances));
  EXPECT_EQ(read_ids(path("gt.ibin")), truth.ids);  // --gt takes either .ibin layout
  EXPECT_EQ(parse_ids(bytes, VectorFileFormat::ibin, "gt.ibin"), truth.ids);
}

TEST_F(VectorFileTest, ReadingGroundTruthAsVectorsSaysWhatTheFileHoldsAndWhatReadsIt) {
  write_ground_truth(path("gt.ibin"), GroundTruth{make_ids(3, 2), make_floats(3, 2)});
  const std::string message =
      error_of(Errc::invalid_argument, [&] { read_vectors(path("gt.ibin")); });
  EXPECT_NE(message.find("gt.ibin"), std::string::npos) << message;
  EXPECT_NE(message.find("ground truth"), std::string::npos) << message;
  EXPECT_NE(message.find("read_ids"), std::string::npos) << message;
}

TEST_F(VectorFileTest, MalformedBinFilesNameTheirNumbers) {
  const auto msg = [&](const Bytes& bytes, VectorFileFormat format) {
    return error_of(Errc::io_error, [&] { parse_f(bytes, format, "b"); });
  };
  EXPECT_NE(msg(raw<std::int32_t>({2}), VectorFileFormat::fbin).find("truncated at byte 4"),
            std::string::npos);
  EXPECT_NE(msg(bin_file<std::int32_t>(-1, 3, {}), VectorFileFormat::fbin)
                .find("header has -1 rows of dimension 3"),
            std::string::npos);
  EXPECT_NE(msg(bin_file<std::int32_t>(2, 0, {}), VectorFileFormat::fbin).find("dimension 0"),
            std::string::npos);
  EXPECT_NE(
      msg(bin_file<std::int32_t>(1, 2'000'000, {}), VectorFileFormat::fbin).find("1..1000000"),
      std::string::npos);
  const auto short_data = msg(bin_file<float>(2, 2, {1, 2, 3}), VectorFileFormat::fbin);
  EXPECT_NE(
      short_data.find("truncated: 2 x 2 needs 16 data bytes after the 8-byte header, file has 12"),
      std::string::npos)
      << short_data;
  const auto long_data = msg(bin_file<std::uint8_t>(1, 2, {1, 2, 3}), VectorFileFormat::u8bin);
  EXPECT_NE(long_data.find("wrong size: 1 x 2 needs 2 data bytes"), std::string::npos) << long_data;
  // A ground-truth-sized tail is only meaningful for ids.
  const auto gt_as_vectors = msg(bin_file<std::int32_t>(1, 1, {5, 0}), VectorFileFormat::ibin);
  EXPECT_NE(gt_as_vectors.find("wrong size"), std::string::npos) << gt_as_vectors;
  const auto ids = error_of(Errc::io_error, [&] {
    parse_ids(bin_file<std::int32_t>(1, 2, {1, 2, 3}), VectorFileFormat::ibin, "ids");
  });
  EXPECT_NE(ids.find("needs 8 or 16"), std::string::npos) << ids;
  write_ids(path("plain.ibin"), make_ids(2, 2));
  const auto plain = error_of(Errc::io_error, [&] { read_ground_truth(path("plain.ibin")); });
  EXPECT_NE(plain.find("needs 32 bytes of ids and distances after the 8-byte header, file has 16"),
            std::string::npos)
      << plain;
}

TEST_F(VectorFileTest, BinFilesAreReadWithTheFileReadersRules) {
  // Streaming reads and in-memory parsing agree, error for error.
  const Bytes bad = bin_file<float>(3, 2, {1, 2, 3});
  write_file(path("bad.fbin"), bad);
  EXPECT_EQ(error_of(Errc::io_error, [&] { read_vectors(path("bad.fbin")); }),
            error_of(Errc::io_error,
                     [&] { parse_f(bad, VectorFileFormat::fbin, path("bad.fbin").string()); }));
  // int32 beyond 2^24 is not a float.
  write_file(path("big.ibin"), bin_file<std::int32_t>(1, 1, {(1 << 24) + 1}));
  error_of(Errc::invalid_argument, [&] { read_vectors(path("big.ibin")); });
}

TEST_F(VectorFileTest, BinFormatsPairOnlyWithTheirElementTypes) {
  write_vectors(path("v.fbin"), make_floats(1, 2));
  const auto ids = error_of(Errc::invalid_argument, [&] { read_ids(path("v.fbin")); });
  EXPECT_NE(ids.find("ids are read from .ivecs, .ibin or .npy, not .fbin"), std::string::npos);
  error_of(Errc::invalid_argument, [&] { read_u8_vectors(path("v.fbin")); });
  error_of(Errc::invalid_argument, [&] { read_i8_vectors(path("x.u8bin")); });
  error_of(Errc::invalid_argument, [&] { write_vectors(path("a.u8bin"), make_floats(1, 1)); });
  error_of(Errc::invalid_argument, [&] {
    write_vectors(path("a.fbin"), Matrix<std::uint8_t>{1, 1, {1}});
  });
  error_of(Errc::invalid_argument, [&] { write_ids(path("a.fbin"), make_ids(1, 1)); });
  error_of(Errc::invalid_argument, [&] {
    write_ground_truth(path("gt.ivecs"), GroundTruth{make_ids(1, 1), make_floats(1, 1)});
  });
  const auto shapes = error_of(Errc::invalid_argument, [&] {
    write_ground_truth(path("gt.ibin"), GroundTruth{make_ids(2, 1), make_floats(1, 2)});
  });
  EXPECT_NE(shapes.find("ids are 2 x 1 but distances 1 x 2"), std::string::npos) << shapes;
  EXPECT_EQ(entries(), std::vector<std::string>{"v.fbin"});
}

// ---------------------------------------------------------------------------------------------
// Byte .npy files, id lists (--filter) and one-dimensional arrays (range search outputs)

TEST_F(VectorFileTest, ByteNpyReadsAsStoredAndWidensForTheFloatReaderAsU8binDoes) {
  write_file(path("u.npy"), npy_file("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }",
                                     raw<std::uint8_t>({0, 1, 2, 128, 254, 255})));
  write_file(path("i.npy"), npy_file("{'descr': '|i1', 'fortran_order': False, 'shape': (3,), }",
                                     raw<std::int8_t>({-128, 0, 127})));
  EXPECT_EQ(read_u8_vectors(path("u.npy")), (Matrix<std::uint8_t>{2, 3, {0, 1, 2, 128, 254, 255}}));
  EXPECT_EQ(read_vectors(path("u.npy")), (Matrix<float>{2, 3, {0, 1, 2, 128, 254, 255}}));
  EXPECT_EQ(read_i8_vectors(path("i.npy")), (Matrix<std::int8_t>{1, 3, {-128, 0, 127}}));
  EXPECT_EQ(read_vectors(path("i.npy")), (Matrix<float>{1, 3, {-128, 0, 127}}));
  // Each byte reader names the dtype it needs; the float reader lists every dtype it reads.
  auto msg = error_of(Errc::io_error, [&] { read_u8_vectors(path("i.npy")); });
  EXPECT_NE(msg.find("i.npy: dtype '|i1' unsupported, need '|u1'"), std::string::npos) << msg;
  msg = error_of(Errc::io_error, [&] { read_i8_vectors(path("u.npy")); });
  EXPECT_NE(msg.find("dtype '|u1' unsupported, need '|i1'"), std::string::npos) << msg;
  write_file(path("d.npy"), npy_file("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
                                     raw<double>({1})));
  msg = error_of(Errc::io_error, [&] { read_vectors(path("d.npy")); });
  EXPECT_NE(msg.find("dtype '<f8' unsupported, need '<f4', '|u1' or '|i1'"), std::string::npos)
      << msg;
}

TEST_F(VectorFileTest, IdListReadsEveryIdOfRaggedIvecsAnyShapedNpyAndIbin) {
  Bytes ivecs;
  append_row<std::int32_t>(ivecs, 3, {5, 1, 9});
  append_row<std::int32_t>(ivecs, 0, {});
  append_row<std::int32_t>(ivecs, 1, {-2});
  append_row<std::int32_t>(ivecs, 2, {7, 7});
  write_file(path("a.ivecs"), ivecs);
  EXPECT_EQ(read_id_list(path("a.ivecs")), (std::vector<std::int64_t>{5, 1, 9, -2, 7, 7}));
  write_file(path("b.npy"),
             npy_file("{'descr': '<i8', 'fortran_order': False, 'shape': (2, 1, 2), }",
                      raw<std::int64_t>({4, 1, std::int64_t{1} << 40, 0})));
  EXPECT_EQ(read_id_list(path("b.npy")),
            (std::vector<std::int64_t>{4, 1, std::int64_t{1} << 40, 0}));
  write_file(path("c.npy"), npy_file("{'descr': '<i4', 'fortran_order': True, 'shape': (2, 2), }",
                                     raw<std::int32_t>({3, 2, 1, 0})));
  EXPECT_EQ(read_id_list(path("c.npy")), (std::vector<std::int64_t>{3, 2, 1, 0}));
  write_file(path("s.npy"), npy_file("{'descr': '<i8', 'fortran_order': False, 'shape': (), }",
                                     raw<std::int64_t>({42})));
  EXPECT_EQ(read_id_list(path("s.npy")), (std::vector<std::int64_t>{42}));
  write_ids(path("d.ibin"), Matrix<std::int32_t>{2, 2, {8, 6, 4, 2}});
  EXPECT_EQ(read_id_list(path("d.ibin")), (std::vector<std::int64_t>{8, 6, 4, 2}));
  write_file(path("e.ivecs"), {});
  EXPECT_TRUE(read_id_list(path("e.ivecs")).empty());
}

TEST_F(VectorFileTest, IdListErrorsNameTheFileAndTheNumbers) {
  Bytes ivecs;
  append_row<std::int32_t>(ivecs, 2, {1, 2});
  append_row<std::int32_t>(ivecs, 3, {1});
  write_file(path("t.ivecs"), ivecs);
  auto msg = error_of(Errc::io_error, [&] { read_id_list(path("t.ivecs")); });
  EXPECT_NE(msg.find("t.ivecs: truncated at byte 12: row 1 needs 16 bytes, 8 left"),
            std::string::npos)
      << msg;
  Bytes negative;
  append_row<std::int32_t>(negative, -1, {});
  write_file(path("n.ivecs"), negative);
  msg = error_of(Errc::io_error, [&] { read_id_list(path("n.ivecs")); });
  EXPECT_NE(msg.find("row 0 has length -1"), std::string::npos) << msg;
  write_file(path("f.npy"), npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }",
                                     raw<float>({1})));
  msg = error_of(Errc::io_error, [&] { read_id_list(path("f.npy")); });
  EXPECT_NE(msg.find("f.npy: dtype '<f4' unsupported, need '<i4' or '<i8'"), std::string::npos)
      << msg;
  write_file(path("short.npy"),
             npy_file("{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }",
                      raw<std::int64_t>({1, 2, 3})));
  msg = error_of(Errc::io_error, [&] { read_id_list(path("short.npy")); });
  EXPECT_NE(msg.find("shape (2, 2) of '<i8' needs 32 data bytes from byte 128, the file has 24"),
            std::string::npos)
      << msg;
  msg = error_of(Errc::invalid_argument, [&] { read_id_list(path("x.fvecs")); });
  EXPECT_NE(msg.find("ids are listed in .ivecs, .ibin, .npy or HDF5, not .fvecs"),
            std::string::npos)
      << msg;
  msg = error_of(Errc::io_error, [&] { read_id_list(path("missing.npy")); });
  EXPECT_NE(msg.find("missing.npy"), std::string::npos) << msg;
}

TEST_F(VectorFileTest, OneDimensionalArraysAreNpyOfShapeNAndReadBack) {
  const std::vector<std::int64_t> lims = {0, 3, 3, std::int64_t{1} << 40};
  const std::vector<float> distances = {0.5f, -1.0f};
  write_array(path("lims.npy"), std::span<const std::int64_t>(lims));
  write_array(path("d.npy"), std::span<const float>(distances));
  const Bytes bytes = read_file(path("lims.npy"));
  const std::string head(reinterpret_cast<const char*>(bytes.data()), 128);
  EXPECT_NE(head.find("{'descr': '<i8', 'fortran_order': False, 'shape': (4,), }"),
            std::string::npos)
      << head;
  EXPECT_EQ(bytes.size(), 128u + 4 * 8);  // the header padded to 64 bytes, as numpy pads it
  EXPECT_EQ(read_id_list(path("lims.npy")), lims);
  EXPECT_EQ(read_vectors(path("d.npy")), (Matrix<float>{1, 2, distances}));
  write_array(path("none.npy"), std::span<const float>());
  EXPECT_EQ(read_vectors(path("none.npy")), Matrix<float>{});
  const auto msg = error_of(Errc::invalid_argument, [&] {
    write_array(path("lims.ivecs"), std::span<const std::int64_t>(lims));
  });
  EXPECT_NE(msg.find("lims.ivecs: a one-dimensional array is written as .npy, not .ivecs"),
            std::string::npos)
      << msg;
  VectorFileGroup group;
  group.write_array(path("g.npy"), std::span<const std::int64_t>(lims));
  error_of(Errc::invalid_argument,
           [&] { group.write_array(path("g.fbin"), std::span<const float>(distances)); });
  group.commit();
  EXPECT_EQ(read_id_list(path("g.npy")), lims);
  EXPECT_FALSE(fs::exists(path("lims.ivecs")) || fs::exists(path("g.fbin")));
}

}  // namespace
}  // namespace vecaccel
