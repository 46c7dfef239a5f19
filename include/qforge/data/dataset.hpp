// qforge/data/dataset.hpp — labelled image datasets: Fashion-MNIST/MNIST IDX files, CIFAR-10 binary batches,
// and image folders (one sub-folder per class).
//
// Contract: a Dataset holds uint8 images [N, C, H, W] (all the same size) and int64 labels (-1 when unknown).
// Specs: "fmnist:train" / "fmnist:test" (directory from $QFORGE_FMNIST_DIR, else /usr/share/datasets/fashion-mnist,
// or "fmnist:test:DIR"); "idx:IMAGES_FILE[:LABELS_FILE]"; "cifar10:PATH" (a .bin batch file, or a directory:
// its test_batch.bin, or "cifar10:DIR:train" for data_batch_1..5.bin); "folder:PATH" (sub-folders sorted by
// name are classes 0..; images are resized to `resize_to` when given, else must all share the first one's size).
// Every error names the file and the field or record at fault.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/core/tensor.hpp"
#include "qforge/data/resize.hpp"
#include "qforge/io/gzip.hpp"
#include "qforge/io/image_read.hpp"

namespace qforge::data {

struct Dataset {
  std::string name;                       // the spec it came from
  Tensor images;                          // uint8 [N, C, H, W]
  std::vector<int64_t> labels;            // size N; -1 = unlabelled
  std::vector<std::string> class_names;   // may be empty
  std::vector<std::string> item_names;    // per item, for messages (file paths); empty = "name[i]"

  int64_t size() const { return images.defined() ? images.dim(0) : 0; }
  std::string item_name(int64_t i) const {
    return i < int64_t(item_names.size()) ? item_names[size_t(i)] : name + "[" + std::to_string(i) + "]";
  }
};

struct DatasetOptions {
  int64_t limit = -1;                    // keep only the first `limit` items (-1 = all)
  int64_t resize_h = 0, resize_w = 0;    // for folder: resize every image to this size (0 = keep)
  int64_t channels = 0;                  // for folder: convert to this many channels (0 = the first image's)
};

namespace detail {

inline uint32_t be32(const uint8_t* p) { return (uint32_t(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3]; }

// IDX (LeCun): magic 0x0000 0x08 (ubyte) ndims, then ndims big-endian u32 dims, then the data. `d` is the file's
// (already inflated) bytes; `path` names it in errors. Nothing is allocated before the sizes are checked.
inline Result<std::vector<uint8_t>> parse_idx(const std::vector<uint8_t>& d, const std::string& path, int expect_ndims,
                                              std::vector<int64_t>& dims) {
  if (d.size() < 4) return make_error(path, ": truncated IDX header");
  if (d[0] != 0 || d[1] != 0) return make_error(path, ": bad IDX magic");
  if (d[2] != 0x08) return make_error(path, ": IDX data type 0x", std::hex, int(d[2]), " is not unsigned byte");
  int nd = d[3];
  if (nd != expect_ndims) return make_error(path, ": IDX has ", nd, " dimensions, expected ", expect_ndims);
  if (d.size() < 4 + 4 * size_t(nd)) return make_error(path, ": truncated IDX header");
  dims.clear();
  uint64_t n = 1;
  for (int i = 0; i < nd; ++i) {
    dims.push_back(be32(d.data() + 4 + 4 * i));
    n *= uint64_t(dims.back());
    if (n > (uint64_t(1) << 34)) return make_error(path, ": IDX dims are too large");
  }
  size_t off = 4 + 4 * size_t(nd);
  if (d.size() - off != n)
    return make_error(path, ": IDX data holds ", d.size() - off, " bytes, dims say ", n);
  return std::vector<uint8_t>(d.begin() + off, d.end());
}

inline Result<std::vector<uint8_t>> read_idx(const std::string& path, int expect_ndims, std::vector<int64_t>& dims) {
  QF_ASSIGN_OR_RETURN(auto d, io::read_maybe_gzip(path));
  return parse_idx(d, path, expect_ndims, dims);
}

// CIFAR-10 binary batch: records of 1 label byte (0..9) + 3x32x32 CHW pixels. Appends the records to `all`.
constexpr size_t kCifarRecord = 1 + 3 * 32 * 32;
inline Status append_cifar_records(const std::vector<uint8_t>& d, const std::string& f, std::vector<uint8_t>& all) {
  if (d.empty() || d.size() % kCifarRecord != 0)
    return make_error(f, ": CIFAR-10 batch is ", d.size(), " bytes, not a multiple of the ", kCifarRecord,
                      "-byte record");
  for (size_t i = 0; i < d.size(); i += kCifarRecord)
    if (d[i] > 9) return make_error(f, ": record ", i / kCifarRecord, " has label ", int(d[i]), " (expected 0..9)");
  all.insert(all.end(), d.begin(), d.end());
  return Status::Ok();
}

inline Result<Dataset> load_idx(const std::string& images, const std::string& labels, const std::string& name,
                                const DatasetOptions& o) {
  std::vector<int64_t> dims;
  QF_ASSIGN_OR_RETURN(auto px, read_idx(images, 3, dims));
  int64_t n = dims[0], h = dims[1], w = dims[2];
  Dataset ds;
  ds.name = name;
  std::vector<int64_t> lab(size_t(n), -1);
  if (!labels.empty()) {
    std::vector<int64_t> ldims;
    QF_ASSIGN_OR_RETURN(auto lb, read_idx(labels, 1, ldims));
    if (ldims[0] != n) return make_error(labels, ": ", ldims[0], " labels for ", n, " images in ", images);
    for (int64_t i = 0; i < n; ++i) lab[size_t(i)] = lb[size_t(i)];
  }
  int64_t keep = o.limit >= 0 ? std::min(o.limit, n) : n;
  ds.images = Tensor(DType::u8, {keep, 1, h, w});
  if (keep) std::memcpy(ds.images.raw(), px.data(), size_t(keep * h * w));
  lab.resize(size_t(keep));
  ds.labels = std::move(lab);
  return ds;
}

inline Result<Dataset> load_cifar_files(const std::vector<std::string>& files, const std::string& name,
                                        const DatasetOptions& o) {
  std::vector<uint8_t> all;
  for (auto& f : files) {
    QF_ASSIGN_OR_RETURN(auto d, io::read_file_bytes(f));
    QF_RETURN_IF_ERROR(append_cifar_records(d, f, all));
  }
  int64_t n = int64_t(all.size() / kCifarRecord);
  if (o.limit >= 0) n = std::min(n, o.limit);
  Dataset ds;
  ds.name = name;
  ds.class_names = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
  ds.images = Tensor(DType::u8, {n, 3, 32, 32});
  uint8_t* dst = ds.images.data<uint8_t>();
  for (int64_t i = 0; i < n; ++i) {
    ds.labels.push_back(all[size_t(i) * kCifarRecord]);
    std::memcpy(dst + i * 3072, all.data() + size_t(i) * kCifarRecord + 1, 3072);  // already CHW (R plane, G, B)
  }
  return ds;
}

inline bool is_image_file(const std::filesystem::path& p) {
  std::string e = p.extension().string();
  for (auto& c : e) c = char(std::tolower((unsigned char)c));
  return e == ".png" || e == ".jpg" || e == ".jpeg" || e == ".bmp" || e == ".tga" || e == ".pgm" || e == ".ppm" ||
         e == ".pnm";
}

inline Result<Dataset> load_folder(const std::string& root, const std::string& name, const DatasetOptions& o) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return make_error(root, ": not a directory");
  std::vector<std::string> classes;
  for (auto& e : fs::directory_iterator(root, ec))
    if (e.is_directory()) classes.push_back(e.path().filename().string());
  std::sort(classes.begin(), classes.end());
  std::vector<std::pair<std::string, int64_t>> files;
  if (classes.empty()) {  // a flat folder: unlabelled images
    for (auto& e : fs::directory_iterator(root, ec))
      if (e.is_regular_file() && is_image_file(e.path())) files.push_back({e.path().string(), -1});
  } else {
    for (size_t c = 0; c < classes.size(); ++c)
      for (auto& e : fs::directory_iterator(fs::path(root) / classes[c], ec))
        if (e.is_regular_file() && is_image_file(e.path())) files.push_back({e.path().string(), int64_t(c)});
  }
  if (ec) return make_error(root, ": cannot list: ", ec.message());
  std::sort(files.begin(), files.end());
  if (files.empty()) return make_error(root, ": no image files (png, jpg, bmp, tga, pnm) found");
  if (o.limit >= 0 && int64_t(files.size()) > o.limit) files.resize(size_t(o.limit));
  Dataset ds;
  ds.name = name;
  ds.class_names = classes;
  int64_t H = o.resize_h, W = o.resize_w, C = o.channels;
  for (size_t i = 0; i < files.size(); ++i) {
    QF_ASSIGN_OR_RETURN(io::Image8 img, io::load_image(files[i].first));
    if (i == 0) {
      if (!H) { H = img.height; W = img.width; }
      if (!C) C = img.channels >= 3 ? 3 : 1;
      ds.images = Tensor(DType::u8, {int64_t(files.size()), C, H, W});
    }
    if ((img.height != H || img.width != W) && !o.resize_h)
      return make_error(files[i].first, ": image is ", img.width, "x", img.height, " but the first image is ", W,
                        "x", H, " (give a model so images can be resized)");
    auto chw = image_to_chw_u8(img, C, H, W);
    std::memcpy(ds.images.data<uint8_t>() + i * size_t(C * H * W), chw.data(), chw.size());
    ds.labels.push_back(files[i].second);
    ds.item_names.push_back(files[i].first);
  }
  return ds;
}

inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> r;
  size_t b = 0;
  for (size_t i = 0; i <= s.size(); ++i)
    if (i == s.size() || s[i] == sep) {
      r.push_back(s.substr(b, i - b));
      b = i + 1;
    }
  return r;
}

}  // namespace detail

inline std::string default_fmnist_dir() {
  const char* env = std::getenv("QFORGE_FMNIST_DIR");
  return env && *env ? env : "/usr/share/datasets/fashion-mnist";
}

inline const std::vector<std::string>& fmnist_class_names() {
  static const std::vector<std::string> n = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                             "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return n;
}

// True when `spec` names a dataset (as opposed to a generator source).
inline bool is_dataset_spec(const std::string& spec) {
  auto kind = spec.substr(0, spec.find(':'));
  return kind == "fmnist" || kind == "idx" || kind == "cifar10" || kind == "folder";
}

inline Result<Dataset> load_dataset(const std::string& spec, const DatasetOptions& o = {}) {
  namespace fs = std::filesystem;
  auto colon = spec.find(':');
  std::string kind = spec.substr(0, colon), rest = colon == std::string::npos ? "" : spec.substr(colon + 1);
  if (kind == "fmnist") {
    auto parts = detail::split(rest, ':');
    std::string split_name = parts[0].empty() ? "test" : parts[0];
    std::string dir = parts.size() > 1 ? rest.substr(parts[0].size() + 1) : default_fmnist_dir();
    std::string prefix = split_name == "train" ? "train" : split_name == "test" ? "t10k" : "";
    if (prefix.empty()) return make_error("dataset '", spec, "': split must be train or test");
    auto pick = [&](const std::string& base) {
      std::string p = (fs::path(dir) / base).string();
      return fs::exists(p) ? p : p + ".gz";
    };
    auto ds = detail::load_idx(pick(prefix + "-images-idx3-ubyte"), pick(prefix + "-labels-idx1-ubyte"), spec, o);
    if (ds.ok()) ds->class_names = fmnist_class_names();
    return ds;
  }
  if (kind == "idx") {
    auto parts = detail::split(rest, ':');
    if (parts[0].empty()) return make_error("dataset '", spec, "': expected idx:IMAGES[:LABELS]");
    return detail::load_idx(parts[0], parts.size() > 1 ? parts[1] : "", spec, o);
  }
  if (kind == "cifar10") {
    std::string path = rest, which = "test";
    if (path.size() > 6 && (path.rfind(":train") == path.size() - 6 || path.rfind(":test") == path.size() - 5)) {
      which = path.substr(path.rfind(':') + 1);
      path = path.substr(0, path.rfind(':'));
    }
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      std::vector<std::string> files;
      if (which == "train")
        for (int i = 1; i <= 5; ++i) files.push_back((fs::path(path) / ("data_batch_" + std::to_string(i) + ".bin")).string());
      else
        files.push_back((fs::path(path) / "test_batch.bin").string());
      return detail::load_cifar_files(files, spec, o);
    }
    if (path.empty()) return make_error("dataset '", spec, "': expected cifar10:PATH");
    return detail::load_cifar_files({path}, spec, o);
  }
  if (kind == "folder") {
    if (rest.empty()) return make_error("dataset '", spec, "': expected folder:PATH");
    return detail::load_folder(rest, spec, o);
  }
  return make_error("unknown dataset '", spec, "' (expected fmnist:train|test, idx:FILE, cifar10:PATH, folder:PATH)");
}

}  // namespace qforge::data
