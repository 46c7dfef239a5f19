// qforge/experiment/evaluate.hpp — top-1 of fp32 and int8 models on a labelled test set, and their agreement.
//
// Contract: TestSet holds the first `limit` images of a dataset preprocessed once for one model's input
// (data::preprocess_batch), their labels, and the fp32 model's argmax per image (computed once). evaluate()
// runs another model (the int8 one) over the same tensor in batches and counts correct predictions and
// argmax agreement with the fp32 model. Argmax ties pick the lowest class index.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "qforge/core/error.hpp"
#include "qforge/core/tensor.hpp"
#include "qforge/data/dataset.hpp"
#include "qforge/data/preprocess.hpp"
#include "qforge/quant/any_model.hpp"

namespace qforge::experiment {

struct TestSet {
  Tensor x;                        // preprocessed [N, C, H, W]
  std::vector<int64_t> labels;
  std::vector<int64_t> fp32_pred;  // argmax of the fp32 model
  int64_t fp32_correct = 0;
  int64_t size() const { return int64_t(labels.size()); }
};

struct EvalCounts {
  int64_t n = 0, correct = 0, agree = 0;
  double top1() const { return n ? 100.0 * double(correct) / double(n) : 0.0; }
  double agreement() const { return n ? 100.0 * double(agree) / double(n) : 0.0; }
};

// Argmax per row of the model's first output [B, K].
inline Result<std::vector<int64_t>> predict(const quant::AnyModel& m, const Tensor& x, int64_t batch) {
  std::vector<int64_t> out;
  out.reserve(size_t(x.dim(0)));
  for (int64_t b = 0; b < x.dim(0); b += batch) {
    const int64_t e = std::min(x.dim(0), b + batch);
    QF_ASSIGN_OR_RETURN(auto y, m.run({x.slice0(b, e)}));
    if (y.empty() || y[0].dtype() != DType::f32 || y[0].rank() != 2 || y[0].dim(0) != e - b)
      return make_error(m.path(), ": expected logits [", e - b, ", K], got ",
                        y.empty() ? std::string("nothing") : shape_str(y[0].shape()));
    const int64_t K = y[0].dim(1);
    const float* p = y[0].data<float>();
    for (int64_t i = 0; i < e - b; ++i) out.push_back(std::max_element(p + i * K, p + (i + 1) * K) - (p + i * K));
  }
  return out;
}

inline Result<TestSet> make_test_set(const data::Dataset& ds, const data::InputSpec& spec, int64_t limit,
                                     const quant::AnyModel& fp32, int64_t batch) {
  TestSet t;
  const int64_t n = limit > 0 ? std::min(limit, ds.size()) : ds.size();
  if (n <= 0) return make_error(ds.name, ": no test images");
  t.x = data::preprocess_batch(ds, 0, n, spec);
  t.labels.assign(ds.labels.begin(), ds.labels.begin() + n);
  for (int64_t l : t.labels)
    if (l < 0) return make_error(ds.name, ": the test set needs labels");
  QF_ASSIGN_OR_RETURN(t.fp32_pred, predict(fp32, t.x, batch));
  for (int64_t i = 0; i < n; ++i) t.fp32_correct += t.fp32_pred[size_t(i)] == t.labels[size_t(i)];
  return t;
}

inline Result<EvalCounts> evaluate(const quant::AnyModel& m, const TestSet& t, int64_t batch) {
  QF_ASSIGN_OR_RETURN(auto pred, predict(m, t.x, batch));
  EvalCounts c;
  c.n = t.size();
  for (int64_t i = 0; i < c.n; ++i) {
    c.correct += pred[size_t(i)] == t.labels[size_t(i)];
    c.agree += pred[size_t(i)] == t.fp32_pred[size_t(i)];
  }
  return c;
}

}  // namespace qforge::experiment
