// qforge generate — synthetic calibration images from a SOURCE (generators/registry.hpp) written as PNG files.
//
//   qforge generate --source SPEC -n 1024 [--seed S | --seeds 0-99,120] [--classes 0-9] [--psi 0.7]
//                   [--noise-mode const|random|none] [--uniform-z] [--filter energy|bn --model M.onnx
//                   [--keep 0.5] [--temperature 1]] [--size HxW] [--channels C] [--batch 64]
//                   --out DIR [--grid grid.png] [--grid-max 64] [--grid-cols 8]
//
// Images: with --seed S (default 0), images 0..n-1 of run S; with --seeds, image 0 of each listed seed.
// Conditional sources get classes round-robin over --classes (default: all classes), so every class has the
// same count (±1). Files DIR/000000.png ... (temp + rename each) and DIR/index.csv (file,seed,index,class,score).
// --filter over-generates n / keep candidates and keeps the n with the lowest score (per class for a
// conditional source): energy = −T·logsumexp(logits / T) of the fp32 model, bn = BatchNorm-statistics distance
// (include/qforge/data/filters.hpp).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "cli.hpp"
#include "generators/registry.hpp"
#include "qforge/data/preprocess_gen.hpp"
#include "qforge/io/file_util.hpp"
#include "qforge/io/image_write.hpp"

#if __has_include("qforge/data/filters.hpp")
#include "qforge/data/filters.hpp"
#define QFORGE_GENERATE_HAVE_FILTERS 1
#endif

// A named namespace, not an anonymous one: the verbs compile as one unity translation unit (CMakeLists.txt).
namespace verb_generate {

using namespace qforge;

// "0-9,12,20-22" → {0..9, 12, 20, 21, 22}. Ranges are inclusive; at most `limit` values.
Result<std::vector<int64_t>> parse_list(const std::string& s, const std::string& flag, int64_t limit = 10000000) {
  std::vector<int64_t> out;
  size_t pos = 0;
  if (s.empty()) return make_error("--", flag, ": empty list");
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    std::string part = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    auto num = [&](const std::string& t, int64_t& v) {
      if (t.empty()) return false;
      char* end = nullptr;
      long long x = std::strtoll(t.c_str(), &end, 10);
      if (end != t.c_str() + t.size() || x < 0) return false;
      v = x;
      return true;
    };
    size_t dash = part.find('-');
    int64_t a = 0, b = 0;
    bool ok = dash == std::string::npos ? num(part, a) && num(part, b)
                                        : num(part.substr(0, dash), a) && num(part.substr(dash + 1), b);
    if (!ok || b < a)
      return make_error("--", flag, ": '", part, "' is not a non-negative number or range A-B (A <= B)");
    if (b - a + 1 > limit - int64_t(out.size())) return make_error("--", flag, ": more than ", limit, " values");
    for (int64_t v = a; v <= b; ++v) out.push_back(v);
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return out;
}

struct Item {
  uint64_t seed;
  int64_t index;
  int64_t cls;  // -1 = unconditional
  float score = 0;
};

int usage(const std::string& msg) {
  std::fprintf(stderr, "qforge generate: %s\n", msg.c_str());
  std::fprintf(stderr,
               "usage: qforge generate --source SPEC -n N [--seed S | --seeds LIST] [--classes LIST] [--psi P]\n"
               "         [--noise-mode const|random|none] [--uniform-z] [--filter energy|bn --model M.onnx]\n"
               "         [--keep F] [--temperature T] [--size HxW] [--channels C] [--batch B] --out DIR\n"
               "         [--grid PATH] [--grid-max N] [--grid-cols N]\n"
               "SPEC: fractal | fractal:svd | fractal:ifs | noise:gaussian|uniform|pink | stylegan2:PATH | "
               "onnxgen:G.onnx\n      (fractal/noise accept ,key=value options; see docs/generators.md)\n");
  return 2;
}

int fail(const std::string& msg) {
  std::fprintf(stderr, "qforge generate: %s\n", msg.c_str());
  return 1;
}

// Generates the images of `items` (in order) as one [n, C, H, W] tensor, batching consecutive indices of one
// seed into single requests.
Result<Tensor> generate_items(const gen::Generator& g, const std::vector<Item>& items, int64_t batch) {
  auto info = g.info();
  const int64_t per = info.channels * info.height * info.width;
  QF_ASSIGN_OR_RETURN(Tensor all, Tensor::create(DType::f32, {int64_t(items.size()), info.channels, info.height,
                                                              info.width}));
  size_t i = 0;
  while (i < items.size()) {
    size_t j = i + 1;
    while (j < items.size() && int64_t(j - i) < batch && items[j].seed == items[i].seed &&
           items[j].index == items[j - 1].index + 1)
      ++j;
    gen::GenerateRequest r;
    r.seed = items[i].seed;
    r.first = items[i].index;
    r.count = int64_t(j - i);
    if (info.num_classes > 0)
      for (size_t k = i; k < j; ++k) r.classes.push_back(items[k].cls);
    QF_ASSIGN_OR_RETURN(Tensor t, g.generate(r));
    if (t.shape() != Shape{r.count, info.channels, info.height, info.width})
      return make_error(info.name, ": generator returned ", shape_str(t.shape()), " for ", r.count, " images of ",
                        info.channels, "x", info.height, "x", info.width);
    std::copy(t.data<float>(), t.data<float>() + r.count * per, all.data<float>() + int64_t(i) * per);
    i = j;
  }
  return all;
}

int run(const std::vector<std::string>& argv) {
  cli::Args a(argv, {"uniform-z"});
  auto unknown = a.unknown({"source", "n", "seed", "seeds", "classes", "psi", "noise-mode", "uniform-z", "filter",
                            "model", "keep", "temperature", "size", "channels", "batch", "out", "grid", "grid-max",
                            "grid-cols"});
  if (!unknown.empty()) return usage("unknown or incomplete flag --" + unknown[0]);
  if (!a.positional().empty()) return usage("unexpected argument '" + a.positional()[0] + "'");
  if (!a.has("source")) return usage("--source is required");
  if (!a.has("out")) return usage("--out DIR is required");
  const std::string spec = a.get("source"), out_dir = a.get("out");

  gen::SourceOptions so;
  if (a.has("size")) {
    std::string s = a.get("size");
    auto x = s.find('x');
    char* e1 = nullptr;
    char* e2 = nullptr;
    std::string hs = s.substr(0, x), ws = x == std::string::npos ? s : s.substr(x + 1);
    long h = std::strtol(hs.c_str(), &e1, 10), w = std::strtol(ws.c_str(), &e2, 10);
    if (hs.empty() || ws.empty() || *e1 || *e2 || h < 1 || w < 1 || h > 4096 || w > 4096)
      return usage("--size '" + s + "' must be HxW (or N for NxN) with 1..4096 pixels per side");
    so.height = h;
    so.width = w;
  }
  if (a.has("channels")) {
    auto c = a.get_int("channels");
    if (!c || (*c != 1 && *c != 3)) return usage("--channels must be 1 or 3");
    so.channels = *c;
  }
  const bool is_stylegan = spec.rfind("stylegan2:", 0) == 0;
  if (a.has("psi")) {
    char* e = nullptr;
    std::string p = a.get("psi");
    so.psi = std::strtof(p.c_str(), &e);
    if (p.empty() || *e || !std::isfinite(so.psi)) return usage("--psi '" + p + "' is not a number");
    if (!is_stylegan) return usage("--psi applies only to stylegan2 sources");
  }
  if (a.has("noise-mode")) {
    so.noise_mode = a.get("noise-mode");
    if (so.noise_mode != "const" && so.noise_mode != "random" && so.noise_mode != "none")
      return usage("--noise-mode must be const, random or none");
    if (!is_stylegan) return usage("--noise-mode applies only to stylegan2 sources");
  }
  so.uniform_latent = a.has("uniform-z");

  const int64_t gm = a.get_int("grid-max").value_or(a.has("grid-max") ? -1 : 64);
  const int64_t gc = a.get_int("grid-cols").value_or(a.has("grid-cols") ? -1 : 0);
  if (gm < 1 || gc < 0) return usage("--grid-max must be an integer >= 1 and --grid-cols >= 0");
  if (!a.has("grid") && (a.has("grid-max") || a.has("grid-cols"))) return usage("--grid-max/--grid-cols need --grid");

  int64_t batch = 64;
  if (a.has("batch")) {
    auto b = a.get_int("batch");
    if (!b || *b < 1 || *b > 4096) return usage("--batch must be 1..4096");
    batch = *b;
  }

  // Which images.
  if (a.has("seed") && a.has("seeds")) return usage("give --seed or --seeds, not both");
  std::vector<int64_t> seeds;
  int64_t n = -1;
  if (a.has("n")) {
    auto v = a.get_int("n");
    if (!v || *v < 1 || *v > 10000000) return usage("-n must be 1..10000000");
    n = *v;
  }
  uint64_t seed = 0;
  if (a.has("seeds")) {
    auto s = parse_list(a.get("seeds"), "seeds");
    if (!s.ok()) return usage(s.error().message);
    seeds = *s;
    if (n >= 0 && n != int64_t(seeds.size()))
      return usage("-n " + std::to_string(n) + " but --seeds lists " + std::to_string(seeds.size()) + " seeds");
    n = int64_t(seeds.size());
  } else if (a.has("seed")) {
    auto s = a.get_int("seed");
    if (!s || *s < 0) return usage("--seed must be a non-negative integer");
    seed = uint64_t(*s);
  }
  if (n < 0) return usage("-n N (or --seeds) is required");

  // Filter settings (checked before any work).
  std::string filter = a.get("filter");
  double keep = 0.5, temperature = 1.0;
  if (!filter.empty() && filter != "energy" && filter != "bn") return usage("--filter must be energy or bn");
  if (a.has("keep")) {
    char* end = nullptr;
    std::string k = a.get("keep");
    keep = std::strtod(k.c_str(), &end);
    if (k.empty() || *end) keep = -1;
    if (!(keep > 0 && keep <= 1)) return usage("--keep must be in (0, 1]");
    if (filter.empty()) return usage("--keep needs --filter");
  }
  if (a.has("temperature")) {
    char* end = nullptr;
    std::string t = a.get("temperature");
    temperature = std::strtod(t.c_str(), &end);
    if (t.empty() || *end) temperature = -1;
    if (!(temperature > 0)) return usage("--temperature must be > 0");
    if (filter != "energy") return usage("--temperature applies to --filter energy");
  }
  if (!filter.empty() && !a.has("model")) return usage("--filter needs --model M.onnx");
  if (filter.empty() && a.has("model")) return usage("--model is only used with --filter");
#ifndef QFORGE_GENERATE_HAVE_FILTERS
  if (!filter.empty()) return fail("this build has no filters (include/qforge/data/filters.hpp)");
#endif

  auto g = gen::make_generator(spec, so);
  if (!g.ok()) return fail(g.error().message);
  const auto info = (*g)->info();

  std::vector<int64_t> classes;
  if (a.has("classes")) {
    if (info.num_classes == 0) return usage("--classes given but source '" + info.name + "' is unconditional");
    auto c = parse_list(a.get("classes"), "classes", 100000);
    if (!c.ok()) return usage(c.error().message);
    for (auto k : *c)
      if (k >= info.num_classes)
        return usage("--classes: class " + std::to_string(k) + " is outside 0.." +
                     std::to_string(info.num_classes - 1));
    classes = *c;
  } else {
    for (int64_t k = 0; k < info.num_classes; ++k) classes.push_back(k);
  }

  // Candidates: n / keep of them when filtering (the first n are exactly the unfiltered set).
  const int64_t m = filter.empty() ? n : int64_t(std::ceil(double(n) / keep - 1e-9));
  if (!seeds.empty() && m != n) return usage("--filter over-generates by image index; use --seed, not --seeds");
  std::vector<Item> cand;
  cand.reserve(size_t(m));
  for (int64_t k = 0; k < m; ++k) {
    int64_t cls = classes.empty() ? -1 : classes[size_t(k) % classes.size()];
    if (!seeds.empty()) cand.push_back({uint64_t(seeds[size_t(k)]), 0, cls});
    else cand.push_back({seed, k, cls});
  }

#ifdef QFORGE_GENERATE_HAVE_FILTERS
  // The scoring model is loaded (and checked) before any image is made.
  Result<data::FilterModel> model = Error{"no filter"};
  if (!filter.empty()) {
    model = data::load_filter_model(a.get("model"));
    if (!model.ok()) return fail(model.error().message);
    if (filter == "bn" && model->bn.empty())
      return fail(a.get("model") + ": the bn filter needs a model with BatchNormalization layers (this one has none;"
                  " export with BatchNorm kept, see docs/generators.md)");
  }
#endif

  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec || !std::filesystem::is_directory(out_dir))
    return fail("cannot create output directory '" + out_dir + "'" + (ec ? ": " + ec.message() : ""));

  auto t0 = std::chrono::steady_clock::now();
  auto images = generate_items(**g, cand, batch);
  if (!images.ok()) return fail(images.error().message);
  auto t1 = std::chrono::steady_clock::now();

  std::vector<size_t> chosen;  // indices into cand, in output order
  if (filter.empty()) {
    for (size_t k = 0; k < cand.size(); ++k) chosen.push_back(k);
  } else {
#ifdef QFORGE_GENERATE_HAVE_FILTERS
    data::FilterOptions fo;
    fo.temperature = float(temperature);
    fo.batch = batch;
    auto scores = filter == "energy" ? data::energy_scores(*model, *images, fo) : data::bn_scores(*model, *images, fo);
    if (!scores.ok()) return fail(scores.error().message);
    for (size_t k = 0; k < cand.size(); ++k) cand[k].score = (*scores)[k];
    std::vector<int64_t> group(cand.size());
    for (size_t k = 0; k < cand.size(); ++k) group[k] = cand[k].cls;
    // Target count per group: what the unfiltered run would produce (round-robin over classes).
    std::map<int64_t, int64_t> want;
    for (int64_t k = 0; k < n; ++k) want[cand[size_t(k)].cls]++;
    chosen = data::select_lowest(*scores, group, want);
    std::sort(chosen.begin(), chosen.end());
#endif
  }

  // Final images (resized when the source's native size differs from --size/--channels).
  Tensor kept(DType::f32, {int64_t(chosen.size()), info.channels, info.height, info.width});
  const int64_t per = info.channels * info.height * info.width;
  for (size_t k = 0; k < chosen.size(); ++k)
    std::copy(images->data<float>() + int64_t(chosen[k]) * per, images->data<float>() + int64_t(chosen[k] + 1) * per,
              kept.data<float>() + int64_t(k) * per);
  int64_t oc = so.channels > 0 ? so.channels : info.channels;
  int64_t oh = so.height > 0 ? so.height : info.height, ow = so.width > 0 ? so.width : info.width;
  if (oc != info.channels || oh != info.height || ow != info.width) {
    auto r = data::resize_images(kept, oc, oh, ow);
    if (!r.ok()) return fail(r.error().message);
    kept = *r;
  }

  std::string csv = "file,seed,index,class" + std::string(filter.empty() ? "" : ",score") + "\n";
  for (size_t k = 0; k < chosen.size(); ++k) {
    char name[32];
    std::snprintf(name, sizeof name, "%06zu.png", k);
    std::string path = (std::filesystem::path(out_dir) / name).string();
    auto st = io::write_png(path, kept, int64_t(k));
    if (!st.ok()) return fail(st.error().message);
    const Item& it = cand[chosen[k]];
    csv += std::string(name) + "," + std::to_string(it.seed) + "," + std::to_string(it.index) + "," +
           std::to_string(it.cls);
    if (!filter.empty()) {
      char sc[32];
      std::snprintf(sc, sizeof sc, ",%.6g", double(it.score));
      csv += sc;
    }
    csv += "\n";
  }
  std::string csv_path = (std::filesystem::path(out_dir) / "index.csv").string();
  auto st = io::write_file_atomic(csv_path, csv.data(), csv.size());
  if (!st.ok()) return fail(st.error().message);

  if (a.has("grid")) {
    int64_t cnt = std::min<int64_t>(gm, kept.dim(0));
    auto grid = io::make_grid(kept.slice0(0, cnt), gc, 2, -1.0f);
    if (!grid.ok()) return fail(grid.error().message);
    auto gs = io::write_png(a.get("grid"), *grid);
    if (!gs.ok()) return fail(gs.error().message);
  }

  double secs = std::chrono::duration<double>(t1 - t0).count();
  std::printf("wrote %zu images (%lldx%lldx%lld) from %s to %s; generated %lld in %.3f s (%.0f images/s)%s\n",
              chosen.size(), (long long)oc, (long long)oh, (long long)ow, info.name.c_str(), out_dir.c_str(),
              (long long)m, secs, double(m) / std::max(secs, 1e-9),
              filter.empty() ? "" : (", kept the lowest " + filter + " scores").c_str());
  return 0;
}

cli::Verb reg{"generate", "synthetic calibration images (fractal, noise, stylegan2, onnxgen) as PNG files", run};

}  // namespace verb_generate
