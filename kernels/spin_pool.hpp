// kernels/spin_pool.hpp — a process-wide pool of worker threads that spin between tasks while an inference runs.
//
// Why: an int8 layer at batch 1 takes 10–200 µs, and waking a parked OpenMP thread took 54–65 µs here under
// OMP_WAIT_POLICY=passive (bench/bm_threads), the policy a shared machine needs; libgomp reads its policy once at
// start-up. These workers spin (pause loop) while a hot section is open — QExecutor::run opens one for the layers
// of one inference; only the workers of the last call keep spinning — and for kIdleSpins pauses after each task
// otherwise, then sleep on a condition variable. An empty 2-part call after 0 / 20 / 200 µs of serial work took
// 0.4 / 0.7 / 2.8 µs in a hot section and 0.3 / 0.6 / 28 µs outside one, against 51 / 54 / 69 µs for an OpenMP
// region under passive waits (bench/bm_threads, 22 Nov 2026, this 2-core machine).
//
// Contract: try_run(n, fn, ctx) calls fn(ctx, t) exactly once for every t in [0, n) — t = 0 on the caller, the
// others on workers — and returns true when all have returned. It returns false without calling fn when it cannot
// (the pool is serving another caller, the call comes from inside a task, n − 1 exceeds the workers, or the
// process forked since the workers started); the caller then runs the work another way. Callers partition work
// by t, so results never depend on which thread ran a part. An exception from a part is rethrown by try_run once
// all parts have returned. $QFORGE_SPIN_POOL=0 turns the pool off.
#pragma once
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#endif

namespace qforge::kernels {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#else
  std::this_thread::yield();
#endif
}

// An OMP_WAIT_POLICY value in lower case ("" when unset): libgomp accepts it in any case.
inline std::string wait_policy_lower(const char* v) {
  std::string p(v ? v : "");
  for (char& c : p) c = char(std::tolower(static_cast<unsigned char>(c)));
  return p;
}

class SpinPool {
 public:
  using Fn = void (*)(void*, int);

  // The pool of this process: hardware_concurrency() − 1 workers (at most 63), started by the first try_run.
  static SpinPool& global() {
    static SpinPool pool;
    return pool;
  }

  // false when $QFORGE_SPIN_POOL is 0, or when OMP_WAIT_POLICY=active: OpenMP's idle threads then spin without
  // end and would share the cores with the pool's workers (bench/bm_threads: 27-310 µs per pool call instead of
  // 0.4-3), while its own regions cost ~1 µs. Read once.
  static bool enabled() {
    static const bool on = [] {
      const char* e = std::getenv("QFORGE_SPIN_POOL");
      if (e && std::strcmp(e, "0") == 0) return false;
      return wait_policy_lower(std::getenv("OMP_WAIT_POLICY")) != "active";
    }();
    return on;
  }

  // While at least one hot section is open (any thread), idle workers keep spinning.
  static std::atomic<int>& hot_sections() {
    static std::atomic<int> n{0};
    return n;
  }
  static bool hot() { return hot_sections().load(std::memory_order_relaxed) > 0; }
  // open = false makes an inert guard: callers write HotSection hot(threads > 1).
  struct HotSection {
    explicit HotSection(bool open = true) : open_(open) {
      if (open_) hot_sections().fetch_add(1, std::memory_order_relaxed);
    }
    ~HotSection() {
      if (open_) hot_sections().fetch_sub(1, std::memory_order_relaxed);
    }
    HotSection(const HotSection&) = delete;
    HotSection& operator=(const HotSection&) = delete;

   private:
    bool open_;
  };

  bool try_run(int n, Fn fn, void* ctx) {
    if (n <= 1) {
      if (n == 1) fn(ctx, 0);
      return true;
    }
    if (!enabled() || in_task_) return false;
    bool expected = false;
    if (!busy_.compare_exchange_strong(expected, true, std::memory_order_acquire)) return false;
    if (!start_workers() || n - 1 > int(threads_.size())) {
      busy_.store(false, std::memory_order_release);
      return false;
    }
    fn_ = fn;
    ctx_ = ctx;
    // The round's part count travels in the generation word itself, so that a worker outside the round (t ≥ n),
    // which the caller does not wait for, never reads a field the next round may be writing.
    pending_.store(n - 1, std::memory_order_relaxed);
    gen_.store(((gen_.load(std::memory_order_relaxed) >> 8) + 1) << 8 | uint64_t(n), std::memory_order_release);
    {
      std::lock_guard<std::mutex> lk(mu_);  // a worker about to sleep re-checks gen_ under this lock
    }
    cv_.notify_all();
    // A part that throws (here or on a worker) is rethrown here, after every part has finished: the workers may
    // still be reading the caller's frame until then.
    std::exception_ptr err;
    in_task_ = true;
    try {
      fn(ctx, 0);
    } catch (...) {
      err = std::current_exception();
    }
    in_task_ = false;
    while (pending_.load(std::memory_order_acquire) != 0) cpu_relax();
    if (!err) err = worker_err_;
    worker_err_ = nullptr;
    busy_.store(false, std::memory_order_release);
    if (err) std::rethrow_exception(err);
    return true;
  }

  // Workers started so far (0 before the first parallel try_run, or where threads cannot start).
  int workers() const { return int(threads_.size()); }

  ~SpinPool() {
    stop_.store(true, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lk(mu_);
    }
    cv_.notify_all();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

 private:
  SpinPool() = default;

  // Under busy_. A child of fork() has none of the parent's workers: it never uses the pool.
  bool start_workers() {
#if defined(__unix__) || defined(__APPLE__)
    if (started_ && owner_pid_ != getpid()) return false;
#endif
    if (started_) return !threads_.empty();
    started_ = true;
#if defined(__unix__) || defined(__APPLE__)
    owner_pid_ = getpid();
#endif
    const unsigned hc = std::thread::hardware_concurrency();
    const int want = hc > 1 ? int(hc > 64 ? 63 : hc - 1) : 0;
    try {
      for (int i = 0; i < want; ++i) threads_.emplace_back([this, i] { worker(i + 1); });
    } catch (...) {  // no threads here (std::system_error): the pool stays as it is
    }
    return !threads_.empty();
  }

  void worker(int t) {
    in_task_ = true;  // a task that calls try_run runs its work itself
    uint64_t seen = 0;
    bool took_part = false;  // in the last round: only those workers keep spinning through a hot section
    for (;;) {
      int spins = 0;
      uint64_t g;
      while ((g = gen_.load(std::memory_order_acquire)) == seen) {
        if (stop_.load(std::memory_order_acquire)) return;
        if ((took_part && hot()) || spins < kIdleSpins) {
          ++spins;
          cpu_relax();
          continue;
        }
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return gen_.load(std::memory_order_acquire) != seen || stop_.load(std::memory_order_acquire); });
        spins = 0;
      }
      seen = g;
      took_part = t < int(g & 0xFF);
      if (!took_part) continue;
      try {
        fn_(ctx_, t);
      } catch (...) {
        std::lock_guard<std::mutex> lk(mu_);
        if (!worker_err_) worker_err_ = std::current_exception();
      }
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  // Pauses before an idle worker outside a hot section sleeps: it is still awake 20 µs after a call, asleep 200 µs
  // after one (bench/bm_threads).
  static constexpr int kIdleSpins = 4096;

  std::atomic<bool> busy_{false}, stop_{false};
  std::atomic<uint64_t> gen_{0};  // round number << 8 | the round's part count (≤ 64)
  std::atomic<int> pending_{0};   // parts still running on workers
  Fn fn_ = nullptr;
  void* ctx_ = nullptr;
  std::exception_ptr worker_err_;  // the first exception of a worker's part in this round (under mu_)
  bool started_ = false;
  long owner_pid_ = 0;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  static inline thread_local bool in_task_ = false;
};

// Runs work(t) for t in [0, n) on the spin pool; false (nothing run) when the pool cannot take it.
template <class W>
bool spin_pool_run(int n, W& work) {
  return SpinPool::global().try_run(n, [](void* c, int t) { (*static_cast<W*>(c))(t); }, &work);
}

// Runs work(t) for t in [0, n): on the spin pool when it takes the call, else in an OpenMP region, else serially.
template <class W>
void run_parts(int n, W& work) {
  if (n <= 1) {
    if (n == 1) work(0);
    return;
  }
  if (spin_pool_run(n, work)) return;
#if defined(_OPENMP)
#pragma omp parallel for num_threads(n) schedule(static, 1)
#endif
  for (int t = 0; t < n; ++t) work(t);
}

}  // namespace qforge::kernels
