// qforge/experiment/sources.hpp — the calibration images of each experiment source, as raw images.
//
// Contract: a source gives `n` images as float32 [n, C, H, W] in [-1, 1] (the Generator convention; a real
// uint8 pixel p becomes p/127.5 − 1) at the source's own resolution, plus one class per image (−1 = none).
// The model input is made from them by data::preprocess_generated, so every source goes through the same
// conversion. Determinism: the same (spec, n, seed) always gives the same images.
//  * real_subset: n distinct images of a dataset chosen by a seeded partial Fisher–Yates shuffle.
//  * generate_images: images [first, first + count) of run `seed`; a conditional generator gets class
//    (index mod classes) for image index, as quant::make_calibration_set does.
//  * filter_select: per class, keep the want[class] lowest scores (data::select_lowest), want = the class counts
//    of the first n candidates (what the unfiltered source would give).
#pragma once
#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "generators/registry.hpp"
#include "qforge/core/error.hpp"
#include "qforge/core/rng.hpp"
#include "qforge/core/tensor.hpp"
#include "qforge/data/dataset.hpp"
#include "qforge/data/filters.hpp"

namespace qforge::experiment {

struct RawImages {
  Tensor images;                 // f32 [n, C, H, W] in [-1, 1]
  std::vector<int64_t> classes;  // per image, −1 = none
  int64_t size() const { return images.defined() ? images.dim(0) : 0; }
};

// Images `idx` of a uint8 dataset → [-1, 1].
inline RawImages dataset_images(const data::Dataset& ds, const std::vector<int64_t>& idx) {
  const Tensor& im = ds.images;
  const int64_t C = im.dim(1), H = im.dim(2), W = im.dim(3), per = C * H * W;
  RawImages r;
  r.images = Tensor(DType::f32, {int64_t(idx.size()), C, H, W});
  float* d = r.images.data<float>();
  const uint8_t* s = im.data<uint8_t>();
  for (size_t k = 0; k < idx.size(); ++k) {
    const uint8_t* p = s + idx[k] * per;
    for (int64_t j = 0; j < per; ++j) d[int64_t(k) * per + j] = float(p[j]) / 127.5f - 1.0f;
    r.classes.push_back(idx[k] < int64_t(ds.labels.size()) ? ds.labels[size_t(idx[k])] : -1);
  }
  return r;
}

// n distinct indices out of [0, size), seeded (partial Fisher–Yates), in the order drawn.
inline std::vector<int64_t> seeded_subset(int64_t size, int64_t n, uint64_t seed, uint64_t stream) {
  std::vector<int64_t> all(static_cast<size_t>(size));
  std::iota(all.begin(), all.end(), 0);
  CounterRng rng(seed, stream);
  n = std::min(n, size);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t j = i + int64_t(rng.u32(uint64_t(i)) % uint64_t(size - i));
    std::swap(all[size_t(i)], all[size_t(j)]);
  }
  all.resize(size_t(n));
  return all;
}

inline Result<RawImages> real_subset(const data::Dataset& ds, int64_t n, uint64_t seed) {
  if (ds.size() < n) return make_error(ds.name, " has ", ds.size(), " images, ", n, " requested");
  return dataset_images(ds, seeded_subset(ds.size(), n, seed, 0x5245414cull));
}

// K images per class (classes 0..num_classes-1), seeded; fewer when a class has fewer.
inline RawImages per_class_subset(const data::Dataset& ds, int64_t k, int64_t num_classes, uint64_t seed) {
  std::vector<int64_t> order = seeded_subset(ds.size(), ds.size(), seed, 0x4645575348ull);
  std::map<int64_t, int64_t> got;
  std::vector<int64_t> pick;
  for (int64_t c = 0; c < num_classes; ++c)
    for (int64_t i : order)
      if (ds.labels[size_t(i)] == c && got[c] < k) {
        pick.push_back(i);
        if (++got[c] == k) break;
      }
  return dataset_images(ds, pick);
}

inline Result<RawImages> generate_images(const gen::Generator& g, uint64_t seed, int64_t first, int64_t count,
                                         int64_t batch = 64) {
  const auto info = g.info();
  RawImages r;
  r.images = Tensor(DType::f32, {count, info.channels, info.height, info.width});
  const int64_t per = info.channels * info.height * info.width;
  for (int64_t b = 0; b < count; b += batch) {
    const int64_t e = std::min(count, b + batch);
    gen::GenerateRequest req;
    req.seed = seed;
    req.first = first + b;
    req.count = e - b;
    for (int64_t k = b; k < e; ++k) {
      const int64_t cls = info.num_classes > 0 ? (first + k) % info.num_classes : -1;
      if (info.num_classes > 0) req.classes.push_back(cls);
      r.classes.push_back(cls);
    }
    QF_ASSIGN_OR_RETURN(Tensor t, g.generate(req));
    if (t.dtype() != DType::f32 || t.numel() != (e - b) * per)
      return make_error(info.name, ": generated ", shape_str(t.shape()), " for ", e - b, " images");
    std::copy(t.data<float>(), t.data<float>() + t.numel(), r.images.data<float>() + b * per);
  }
  return r;
}

// The images `keep` (ascending candidate indices) of `cand`.
inline RawImages take(const RawImages& cand, const std::vector<size_t>& keep) {
  const Tensor& t = cand.images;
  const int64_t per = t.numel() / std::max<int64_t>(1, t.dim(0));
  RawImages r;
  Shape s = t.shape();
  s[0] = int64_t(keep.size());
  r.images = Tensor(DType::f32, s);
  for (size_t k = 0; k < keep.size(); ++k) {
    std::copy(t.data<float>() + int64_t(keep[k]) * per, t.data<float>() + int64_t(keep[k] + 1) * per,
              r.images.data<float>() + int64_t(k) * per);
    r.classes.push_back(cand.classes[keep[k]]);
  }
  return r;
}

// Keeps n of the candidates: per class the lowest scores, as many per class as the first n candidates hold.
inline RawImages filter_select(const RawImages& cand, const std::vector<float>& scores, int64_t n) {
  std::map<int64_t, int64_t> want;
  for (int64_t k = 0; k < std::min<int64_t>(n, cand.size()); ++k) want[cand.classes[size_t(k)]]++;
  return take(cand, data::select_lowest(scores, cand.classes, want));
}

// Concatenates two image sets of the same [C, H, W].
inline Result<RawImages> concat(const RawImages& a, const RawImages& b) {
  if (a.size() == 0) return b;
  if (b.size() == 0) return a;
  const Shape& sa = a.images.shape();
  const Shape& sb = b.images.shape();
  if (sa[1] != sb[1] || sa[2] != sb[2] || sa[3] != sb[3])
    return make_error("cannot join images ", shape_str(sa), " and ", shape_str(sb));
  RawImages r;
  r.images = Tensor(DType::f32, {sa[0] + sb[0], sa[1], sa[2], sa[3]});
  std::copy(a.images.data<float>(), a.images.data<float>() + a.images.numel(), r.images.data<float>());
  std::copy(b.images.data<float>(), b.images.data<float>() + b.images.numel(),
            r.images.data<float>() + a.images.numel());
  r.classes = a.classes;
  r.classes.insert(r.classes.end(), b.classes.begin(), b.classes.end());
  return r;
}

}  // namespace qforge::experiment
