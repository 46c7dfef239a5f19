// qforge/experiment/results.hpp — the experiment's measurements, their mean ± std over repeats, and the tables.
//
// Contract: one Record per (model, source, calibrator, bit width, repeat) with the int8 counts on the test set
// and the fp32 count on the same images. Figures are percent / points: int8 top-1, drop = fp32 − int8 top-1,
// agreement = share of test images where the int8 argmax equals the fp32 argmax. Over repeats: mean and the
// sample standard deviation (n − 1; 0 for one repeat). A source that could not run for a model is recorded
// once as n/a with the reason. CSV: one row per (model, source, calibrator, bits), numbers with 4 decimals.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace qforge::experiment {

struct Record {
  std::string model, source, calibrator, bits;
  int repeat = 0;
  int64_t n = 0, fp32_correct = 0, int8_correct = 0, agree = 0;
};

struct Unavailable {
  std::string model, source, reason;
};

struct Stat {
  double mean = 0, std = 0;
  int count = 0;
};

inline Stat mean_std(const std::vector<double>& v) {
  Stat s;
  s.count = int(v.size());
  if (v.empty()) return s;
  for (double x : v) s.mean += x;
  s.mean /= double(v.size());
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.std = std::sqrt(ss / double(v.size() - 1));
  }
  return s;
}

struct Cell {
  Stat int8, drop, agree;
  double fp32 = 0;  // fp32 top-1 (%) on the same test images
  int64_t n = 0;
};

class Results {
 public:
  // Table order (first seen first).
  std::vector<std::string> models, sources, calibrators, bits;

  void add(const Record& r) {
    note(models, r.model);
    note(sources, r.source);
    note(calibrators, r.calibrator);
    note(bits, r.bits);
    records_.push_back(r);
  }
  void add_unavailable(const Unavailable& u) {
    note(models, u.model);
    note(sources, u.source);
    for (auto& x : na_)
      if (x.model == u.model && x.source == u.source) return;
    na_.push_back(u);
  }
  const std::vector<Record>& records() const { return records_; }

  // The reason a source is n/a for a model, or "".
  std::string unavailable(const std::string& model, const std::string& source) const {
    for (auto& x : na_)
      if (x.model == model && x.source == source) return x.reason;
    return "";
  }

  bool cell(const std::string& model, const std::string& source, const std::string& calib, const std::string& bw,
            Cell& c) const {
    std::vector<double> i8, dr, ag;
    for (auto& r : records_) {
      if (r.model != model || r.source != source || r.calibrator != calib || r.bits != bw || r.n == 0) continue;
      const double N = double(r.n);
      i8.push_back(100.0 * double(r.int8_correct) / N);
      dr.push_back(100.0 * double(r.fp32_correct - r.int8_correct) / N);
      ag.push_back(100.0 * double(r.agree) / N);
      c.fp32 = 100.0 * double(r.fp32_correct) / N;
      c.n = r.n;
    }
    if (i8.empty()) return false;
    c.int8 = mean_std(i8);
    c.drop = mean_std(dr);
    c.agree = mean_std(ag);
    return true;
  }

  double fp32_top1(const std::string& model) const {
    for (auto& r : records_)
      if (r.model == model && r.n) return 100.0 * double(r.fp32_correct) / double(r.n);
    return std::nan("");
  }

  // The calibrator with the highest mean int8 top-1 for (model, source, bits); false when none ran.
  bool best(const std::string& model, const std::string& source, const std::string& bw, std::string& calib,
            Cell& c) const {
    bool any = false;
    for (auto& k : calibrators) {
      Cell x;
      if (!cell(model, source, k, bw, x)) continue;
      if (!any || x.int8.mean > c.int8.mean) {
        c = x;
        calib = k;
        any = true;
      }
    }
    return any;
  }

  std::string csv() const {
    std::string s = "model,source,calibrator,bits,repeats,eval_images,fp32_top1,int8_top1_mean,int8_top1_std,"
                    "drop_mean,drop_std,agreement_mean,agreement_std,status\n";
    for (auto& bw : bits)
      for (auto& m : models)
        for (auto& src : sources) {
          std::string na = unavailable(m, src);
          if (!na.empty()) {
            s += m + "," + src + ",," + bw + "," + std::string(9, ',') + "\"n/a: " + quote(na) + "\"\n";
            continue;
          }
          for (auto& k : calibrators) {
            Cell c;
            if (!cell(m, src, k, bw, c)) continue;
            char b[256];
            std::snprintf(b, sizeof b, "%d,%lld,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,%.4f,ok\n", c.int8.count,
                          (long long)c.n, c.fp32, c.int8.mean, c.int8.std, c.drop.mean, c.drop.std, c.agree.mean,
                          c.agree.std);
            s += m + "," + src + "," + k + "," + bw + "," + b;
          }
        }
    return s;
  }

  // Markdown: a summary per bit width (each source with its best calibrator), then one table per bit width
  // and calibrator with int8 top-1, drop and agreement per source.
  std::string markdown() const {
    std::string s;
    const bool multi = repeats() > 1;
    // "### title", then the header row of a models × sources table
    auto table_head = [&](const std::string& title) {
      s += "### " + title + "\n\n| model | fp32 |";
      for (auto& src : sources) s += " " + src + " |";
      s += "\n|---|---|";
      for (size_t i = 0; i < sources.size(); ++i) s += "---|";
      s += "\n";
    };
    for (auto& bw : bits) {
      table_head(upper(bw) + ": drop vs fp32 (points), each source with its best calibrator");
      for (auto& m : models) {
        s += "| " + m + " | " + fmt(fp32_top1(m)) + " |";
        for (auto& src : sources) {
          std::string na = unavailable(m, src), k;
          Cell c;
          if (!na.empty()) s += " n/a |";
          else if (best(m, src, bw, k, c)) s += " " + pm(c.drop, multi) + " (" + k + ") |";
          else s += " – |";
        }
        s += "\n";
      }
      s += "\n";
    }
    for (auto& bw : bits)
      for (auto& k : calibrators) {
        bool any = false;
        for (auto& m : models)
          for (auto& src : sources) {
            Cell c;
            any |= cell(m, src, k, bw, c);
          }
        if (!any) continue;
        table_head(upper(bw) + ", " + k + ": int8 top-1 % / drop / agreement with fp32 %");
        for (auto& m : models) {
          s += "| " + m + " | " + fmt(fp32_top1(m)) + " |";
          for (auto& src : sources) {
            Cell c;
            if (!unavailable(m, src).empty()) s += " n/a |";
            else if (cell(m, src, k, bw, c))
              s += " " + pm(c.int8, multi) + " / " + pm(c.drop, multi) + " / " + pm(c.agree, multi) + " |";
            else s += " – |";
          }
          s += "\n";
        }
        s += "\n";
      }
    if (!na_.empty()) {
      s += "n/a:\n";
      std::set<std::string> seen;
      for (auto& u : na_)
        if (seen.insert(u.source + ": " + u.reason).second) s += "- " + u.source + ": " + u.reason + "\n";
      s += "\n";
    }
    return s;
  }

  int repeats() const {
    int r = 0;
    for (auto& x : records_) r = std::max(r, x.repeat + 1);
    return r;
  }

  static std::string fmt(double v, int prec = 2) {
    if (std::isnan(v)) return "–";
    char b[32];
    std::snprintf(b, sizeof b, "%.*f", prec, v);
    return b;
  }
  static std::string pm(const Stat& s, bool with_std) {
    return with_std ? fmt(s.mean) + " ± " + fmt(s.std) : fmt(s.mean);
  }
  static std::string upper(std::string s) {
    for (auto& c : s) c = char(std::toupper((unsigned char)c));
    return s;
  }

 private:
  static void note(std::vector<std::string>& v, const std::string& x) {
    if (std::find(v.begin(), v.end(), x) == v.end()) v.push_back(x);
  }
  static std::string quote(std::string s) {
    for (auto& c : s)
      if (c == '"') c = '\'';
    return s;
  }
  std::vector<Record> records_;
  std::vector<Unavailable> na_;
};

}  // namespace qforge::experiment
