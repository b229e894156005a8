// ann-benchmarks HDF5 files, written here with the HDF5 C API as h5py writes them: datasets
// read by name with their defaults, the `distance` attribute as the metric, the CLI reading all
// three inputs from one file, and clear errors for what is missing, inexact or damaged.

#include <hdf5.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "support/expect_error.hpp"
#include "support/reference.hpp"
#include "support/temp_dir.hpp"
#include "vecaccel/vecaccel.hpp"

namespace vecaccel {
namespace {

namespace vt = vecaccel::testing;

/// Writes an HDF5 file dataset by dataset.
class Hdf5Writer {
 public:
  explicit Hdf5Writer(const std::filesystem::path& path)
      : file_(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT)) {}
  ~Hdf5Writer() { H5Fclose(file_); }
  Hdf5Writer(const Hdf5Writer&) = delete;
  Hdf5Writer& operator=(const Hdf5Writer&) = delete;

  template <class T>
  void dataset(const char* name, hid_t type, std::size_t rows, std::size_t dim,
               const std::vector<T>& values) {
    const hsize_t extent[2] = {rows, dim};
    const hid_t space = H5Screate_simple(2, extent, nullptr);
    const hid_t set = H5Dcreate2(file_, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(set, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data());
    H5Dclose(set);
    H5Sclose(space);
  }

  /// A variable-length UTF-8 string attribute, as h5py writes `f.attrs["distance"] = "..."`.
  void distance(const char* text) {
    const hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    const hid_t space = H5Screate(H5S_SCALAR);
    const hid_t attribute = H5Acreate2(file_, "distance", type, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(attribute, type, &text);
    H5Aclose(attribute);
    H5Sclose(space);
    H5Tclose(type);
  }

 private:
  hid_t file_;
};

class Hdf5Files : public vt::TempDirTest {
 protected:
  static constexpr std::size_t kDim = 8, kRows = 200, kQueries = 12, kK = 10;

  /// An ann-benchmarks file: train, test, neighbors (exact, by the float64 reference).
  std::string ann_file(const char* name, const char* distance, Metric metric) {
    std::string file = path(name).string();
    Hdf5Writer writer(file);
    writer.dataset("train", H5T_NATIVE_FLOAT, kRows, kDim, train_);
    writer.dataset("test", H5T_NATIVE_FLOAT, kQueries, kDim, test_);
    const vt::ExactKnn exact = vt::exact_knn(test_, train_, kDim, kK, metric);
    const std::vector<std::int32_t> ids(exact.labels.begin(), exact.labels.end());
    writer.dataset("neighbors", H5T_NATIVE_INT32, kQueries, kK, ids);
    writer.distance(distance);
    return file;
  }

  const std::vector<float> train_ = vt::normal_data(kRows, kDim, 1);
  const std::vector<float> test_ = vt::normal_data(kQueries, kDim, 2);
};

TEST_F(Hdf5Files, DatasetsAreReadByNameWithTrainAndNeighborsAsDefaults) {
  ASSERT_TRUE(hdf5_supported());
  const std::string file = ann_file("a.hdf5", "euclidean", Metric::l2);
  EXPECT_EQ(read_vectors(file).values, train_);
  EXPECT_EQ(read_vectors(file + ":test").values, test_);
  const Matrix<std::int32_t> gt = read_ids(file);
  EXPECT_EQ(gt.rows, kQueries);
  EXPECT_EQ(gt.dim, kK);
  EXPECT_EQ(read_ids(file + ":neighbors"), gt);
  EXPECT_EQ(hdf5_metric(file), Metric::l2);
  EXPECT_EQ(hdf5_metric(ann_file("b.hdf5", "angular", Metric::cosine)), Metric::cosine);
}

TEST_F(Hdf5Files, AFileOfTheWholeNameIsReadBeforeADatasetAfterAColon) {
  const std::string file = ann_file("c.hdf5", "euclidean", Metric::l2);
  EXPECT_TRUE(hdf5_dataset(file + ":test").has_value());
  write_vectors(path("c.hdf5:test.fvecs"), Matrix<float>{1, 2, {1, 2}});
  EXPECT_FALSE(hdf5_dataset(path("c.hdf5:test.fvecs")).has_value());
  EXPECT_EQ(read_vectors(path("c.hdf5:test.fvecs")).values, (std::vector<float>{1, 2}));
  EXPECT_FALSE(hdf5_dataset(path("plain.fvecs")).has_value());
}

TEST_F(Hdf5Files, MissingDatasetsOtherDistancesAndInexactValuesAreNamed) {
  const std::string file = ann_file("d.hdf5", "jaccard", Metric::l2);
  const Error missing = vt::expect_error(Errc::io_error, [&] { read_vectors(file + ":nope"); });
  EXPECT_TRUE(vt::mentions(missing, "'nope'")) << missing.what();
  EXPECT_TRUE(vt::mentions(missing, "neighbors, test, train")) << missing.what();
  EXPECT_TRUE(vt::mentions(vt::expect_error(Errc::invalid_argument, [&] { hdf5_metric(file); }),
                           "'jaccard'"));
  EXPECT_TRUE(vt::mentions(
      vt::expect_error(Errc::invalid_argument, [&] { read_ids(file + ":train"); }), "integers"));
}

TEST_F(Hdf5Files, Float64ValuesAreTakenOnlyWhereExactAndOtherShapesAreRefused) {
  {
    Hdf5Writer writer(path("f.h5"));
    writer.dataset("exact", H5T_NATIVE_DOUBLE, 1, 3, std::vector<double>{0.5, -2.0, 3.25});
    writer.dataset("inexact", H5T_NATIVE_DOUBLE, 1, 3, std::vector<double>{0.5, 0.1, 2.0});
    writer.dataset("big", H5T_NATIVE_INT64, 1, 2, std::vector<std::int64_t>{1, 1LL << 40});
    writer.dataset("odd", H5T_NATIVE_INT64, 1, 2, std::vector<std::int64_t>{1, 16777217});
  }
  const std::string file = path("f.h5").string();
  EXPECT_EQ(read_vectors(file + ":exact").values, (std::vector<float>{0.5F, -2.0F, 3.25F}));
  EXPECT_TRUE(vt::mentions(
      vt::expect_error(Errc::invalid_argument, [&] { read_vectors(file + ":inexact"); }),
      "row 0, column 1: 0.1 is not exact"));
  // The value as given, not rounded in the message as it would be in the file.
  EXPECT_TRUE(
      vt::mentions(vt::expect_error(Errc::invalid_argument, [&] { read_vectors(file + ":odd"); }),
                   "16777217 is not exact as float32"));
  EXPECT_TRUE(vt::mentions(
      vt::expect_error(Errc::invalid_argument, [&] { read_ids(file + ":big"); }), "int32"));
}

TEST_F(Hdf5Files, DamagedAndForeignFilesAreIoErrorsNamingTheFile) {
  const std::string file = ann_file("g.hdf5", "euclidean", Metric::l2);
  std::ifstream in(file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const std::size_t keep : {std::size_t{0}, std::size_t{100}, bytes.size() / 2}) {
    const std::string cut = path("cut" + std::to_string(keep) + ".hdf5").string();
    std::ofstream(cut, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(keep));
    const Error e = vt::expect_error(Errc::io_error, [&] { read_vectors(cut); });
    EXPECT_TRUE(vt::mentions(e, cut)) << e.what();
    const auto span = std::as_bytes(std::span(bytes.data(), keep));
    vt::expect_error(Errc::io_error, [&] { parse_hdf5_vectors(span, "train", "fuzz"); });
  }
  EXPECT_EQ(parse_hdf5_vectors(std::as_bytes(std::span(bytes)), "train", "image").values, train_);
  vt::expect_error(Errc::io_error, [&] { read_vectors(path("absent.hdf5")); });
}

TEST_F(Hdf5Files, TheCliReadsBaseQueriesAndGroundTruthFromOneFileWithItsMetric) {
  const std::string file = ann_file("h.hdf5", "angular", Metric::cosine);
  const std::string out = path("out.txt").string();
  const std::string command = std::string(VECACCEL_CLI_PATH) + " search --base " + file +
                              " --query " + file + " --gt " + file + " -k 10 --json --quiet > " +
                              out + " 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0);
  std::ifstream in(out);
  const std::string report((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(report.find("\"metric\": \"cosine\""), std::string::npos) << report;
  EXPECT_NE(report.find("\"recall_at_10\": 1.000000"), std::string::npos) << report;
  EXPECT_NE(report.find("\"queries\": 12"), std::string::npos) << report;
}

}  // namespace
}  // namespace vecaccel
