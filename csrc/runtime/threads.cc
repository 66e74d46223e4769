#include "runtime/threads.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "runtime/out_of_memory.h"

#ifdef __linux__
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#endif

#if defined(_MSC_VER) && defined(_M_X64)
#include <intrin.h>
#endif

namespace fusedrnn {
namespace {

int initial_thread_count() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

std::atomic<int>& thread_count() {
  static std::atomic<int> count{initial_thread_count()};
  return count;
}

std::atomic<bool> team_started{false};
std::atomic<bool> forked_child{false};

#if defined(__unix__) || defined(__APPLE__)
void in_forked_child() {
  if (team_started.load(std::memory_order_relaxed)) forked_child.store(true, std::memory_order_relaxed);
}
const bool fork_handler_installed = pthread_atfork(nullptr, nullptr, &in_forked_child) == 0;
#endif

}  // namespace

void note_thread_team_started() {
  if (!team_started.load(std::memory_order_relaxed)) team_started.store(true, std::memory_order_relaxed);
}

bool forked_after_thread_team() { return forked_child.load(std::memory_order_relaxed); }

int get_num_threads() {
  if (forked_after_thread_team()) return 1;
  const int ours = thread_count().load(std::memory_order_relaxed);
#ifdef _OPENMP
  // Also honour the calling thread's OpenMP limit where something lowered it below the process default
  // (threadpoolctl, omp_set_num_threads): that limit is per thread, ours is process-wide, so a count set
  // on one Python thread holds on every other one (it used to stop at each thread's default).
  static const int process_default = initial_thread_count();
  const int omp = omp_get_max_threads();
  return omp < process_default && omp < ours ? omp : ours;
#else
  return ours;
#endif
}

void set_num_threads(int n) {
  n = n < 1 ? 1 : (n > kMaxThreads ? kMaxThreads : n);
  thread_count().store(n, std::memory_order_relaxed);
#ifdef _OPENMP
  // Keeps omp_get_max_threads() (what threadpoolctl reads and limits) in step with ours.
  omp_set_num_threads(n);
#endif
}

namespace {

// The stack size OpenMP gives its threads: OMP_STACKSIZE / GOMP_STACKSIZE ("512K", "16M", a bare
// number in KiB), else 0 for the default attributes (the ones OpenMP uses then too).
std::size_t openmp_stack_bytes() {
  for (const char* name : {"OMP_STACKSIZE", "GOMP_STACKSIZE"}) {
    const char* text = std::getenv(name);
    if (text == nullptr || *text == '\0') continue;
    char* end = nullptr;
    const unsigned long long value = std::strtoull(text, &end, 10);
    while (end && std::isspace(static_cast<unsigned char>(*end))) ++end;
    const char unit = end && *end ? static_cast<char>(std::toupper(static_cast<unsigned char>(*end))) : 'K';
    const int shift = unit == 'B' ? 0 : unit == 'K' ? 10 : unit == 'M' ? 20 : unit == 'G' ? 30 : -1;
    if (shift >= 0 && value > 0) return static_cast<std::size_t>(value) << shift;
  }
  return 0;
}

std::mutex team_probe_mutex;
std::atomic<int> team_known_to_start{1};

}  // namespace

void ensure_thread_team(int n) {
#if defined(_OPENMP) && (defined(__unix__) || defined(__APPLE__))
  if (n <= team_known_to_start.load(std::memory_order_acquire)) return;
  std::lock_guard<std::mutex> lock(team_probe_mutex);
  if (n <= team_known_to_start.load(std::memory_order_acquire)) return;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  if (const std::size_t stack = openmp_stack_bytes()) pthread_attr_setstacksize(&attr, stack);
  std::vector<pthread_t> started;
  int error = 0;
  for (int i = 1; i < n && error == 0; ++i) {
    pthread_t thread;
    error = pthread_create(&thread, &attr, [](void*) -> void* { return nullptr; }, nullptr);
    if (error == 0) started.push_back(thread);
  }
  // Joined, so their stacks are free (glibc caches them for the next threads: OpenMP's team).
  for (pthread_t thread : started) pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
  if (error != 0) {
    throw OutOfMemory("could not start " + std::to_string(n) + " threads (only " +
                      std::to_string(started.size() + 1) + " could run: out of memory or a thread/" +
                      "address-space limit); fusedrnn.set_num_threads(1) runs on one thread");
  }
  team_known_to_start.store(n, std::memory_order_release);
#else
  (void)n;
#endif
}

Range split_range(std::int64_t n, const ThreadContext& ctx) {
  const std::int64_t base = n / ctx.count, extra = n % ctx.count;
  const std::int64_t begin = ctx.id * base + (ctx.id < extra ? ctx.id : extra);
  return {begin, begin + base + (ctx.id < extra ? 1 : 0)};
}

void barrier(const ThreadContext& ctx) {
  if (ctx.count > 1) ctx.barrier->wait();
}

namespace {

using Clock = std::chrono::steady_clock;

// Spin this long before sleeping: far longer than the usual arrival spread of a step's threads (a few
// microseconds), so a quiet machine never sleeps inside the step loop (sleeping there, 20-150 us spins
// measured slower on `energy` than 1 thread), and shorter than a scheduler time slice.
constexpr auto kSpin = std::chrono::microseconds(1000);
// A wait longer than this, and than kContendedRatio times the waiter's own work since its previous
// barrier, marks the machine as contended for kBackoff.
constexpr auto kLongWait = std::chrono::microseconds(1000);
constexpr int kContendedRatio = 4;
// The single-thread window after a confirmed contention: kMinBackoff, doubled (up to kMaxBackoff) each
// time contention is found again within kRecall windows of the last one's end, back to kMinBackoff when
// it is not. Transient contention (another library's worker threads spinning for a while after its call)
// costs little; a steadily busy machine is probed at 2 threads only every kMaxBackoff, also when the
// calls come in bursts (a loop that does other work between them: with a recall of 2 windows, turns of
// 250 ms a second apart started over at 20 ms each time, and their probes made the mean 2-thread call
// 1.26-1.36x the 1-thread one beside a busy process).
constexpr auto kMinBackoff = std::chrono::milliseconds(20);
constexpr auto kMaxBackoff = std::chrono::milliseconds(1280);
constexpr auto kConfirm = std::chrono::milliseconds(50);
constexpr int kRecall = 8;

// A region in which one of the threads waited on this OS's run queue (runnable, another task on its
// core: the second field of /proc/thread-self/schedstat) for longer than kLongWait and more than
// 1 / kDescheduledShare of the region is a descheduled region; two close together mark the machine as
// contended (note_region_end). The barrier's test above infers a descheduled partner from the waiter's
// side and misses it when both threads lose their cores in turn, as they do to one busy process on 2
// cores: its waits then look like work. Measured on mnist-row's LSTM forward (T=28, N=128, H=128; 2
// cores, one `while True: pass` process): 2 threads ran 1.3-1.7x slower than 1 and that test never
// fired. The run queue is what one thread cures; wall time minus CPU time is not: a hypervisor that
// stops the virtual CPU (steal time) showed there as 2-3 ms lost in 4-8 ms regions a few times a second
// on a quiet VM, with or without a context switch in the guest.
constexpr int kDescheduledShare = 5;

std::atomic<std::int64_t> contended_until{0};  // Clock ticks
std::atomic<std::int64_t> contention_events{0};
std::atomic<std::int64_t> last_long_wait{0};           // Clock ticks
std::atomic<std::int64_t> last_descheduled_region{0};  // Clock ticks of its end
std::atomic<std::int64_t> backoff{0};                  // Clock ticks of the current window length
thread_local Clock::time_point last_barrier_exit{};
// This thread's share of the current region: when it started and its run-queue wait then (-1: not
// measured).
thread_local Clock::time_point region_start{};
thread_local std::int64_t region_start_wait_ns = -1;
// How long this thread's previous region lasted. A region shorter than kLongWait cannot show contention,
// and reading the run-queue wait is a system call (about 1 us), so a thread reads it only when its
// previous region lasted longer (the calls of a loop repeat one size; the barrier's test covers the
// short ones).
thread_local Clock::duration previous_region = Clock::duration::max();

// The time this thread has waited on the OS's run queue (ns), or -1 where the OS does not say.
std::int64_t run_queue_wait_ns() {
#ifdef __linux__
  struct SchedStat {
    int fd = -1;
    pid_t pid = 0;  // the process that opened it: a forked child opens its own
    bool unavailable = false;
    SchedStat() = default;
    SchedStat(const SchedStat&) = delete;
    SchedStat& operator=(const SchedStat&) = delete;
    ~SchedStat() {
      if (fd >= 0) close(fd);
    }
  };
  thread_local SchedStat stat;
  if (stat.unavailable) return -1;
  const pid_t pid = getpid();
  if (stat.fd < 0 || stat.pid != pid) {
    if (stat.fd >= 0) close(stat.fd);
    stat.fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    stat.pid = pid;
    if (stat.fd < 0) {
      stat.unavailable = true;
      return -1;
    }
  }
  char text[96];
  const ssize_t n = pread(stat.fd, text, sizeof text - 1, 0);
  if (n <= 0) return -1;
  text[n] = '\0';
  // "<ns on the CPU> <ns waiting on a run queue> <time slices>"
  char* end = nullptr;
  std::strtoll(text, &end, 10);
  const long long waited = std::strtoll(end, &end, 10);
  return waited >= 0 ? static_cast<std::int64_t>(waited) : -1;
#else
  return -1;
#endif
}

// Runs the next calls on one thread for a window (kMinBackoff, doubled up to kMaxBackoff when contention
// is found again within kRecall windows after the last one ended).
void mark_contended(std::int64_t now) {
  const std::int64_t min_ticks = std::chrono::duration_cast<Clock::duration>(kMinBackoff).count();
  const std::int64_t max_ticks = std::chrono::duration_cast<Clock::duration>(kMaxBackoff).count();
  const std::int64_t window = backoff.load(std::memory_order_relaxed);
  const std::int64_t ended = contended_until.load(std::memory_order_relaxed);
  if (now < ended) return;  // already inside a window (another thread of the region found it too)
  const bool again = window > 0 && now - ended < kRecall * window;
  const std::int64_t next = again ? std::min(2 * window, max_ticks) : min_ticks;
  backoff.store(next, std::memory_order_relaxed);
  contended_until.store(now + next, std::memory_order_relaxed);
  contention_events.fetch_add(1, std::memory_order_relaxed);
}

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(_MSC_VER) && defined(_M_X64)
  _mm_pause();
#endif
}

void sleep_while_equal(std::atomic<std::uint32_t>& word, std::uint32_t value) {
#ifdef __linux__
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAIT_PRIVATE, value, nullptr, nullptr, 0);
#else
  (void)word;
  (void)value;
  std::this_thread::yield();
#endif
}

void wake_all(std::atomic<std::uint32_t>& word) {
#ifdef __linux__
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), FUTEX_WAKE_PRIVATE, INT32_MAX, nullptr, nullptr,
          0);
#else
  (void)word;
#endif
}

}  // namespace

void StepBarrier::wait() {
  const Clock::time_point arrival = Clock::now();
  const std::uint32_t generation = generation_.load(std::memory_order_acquire);
  if (arrived_.fetch_add(1, std::memory_order_acq_rel) == count_ - 1) {
    arrived_.store(0, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) wake_all(generation_);
    last_barrier_exit = Clock::now();
    return;
  }
  while (generation_.load(std::memory_order_acquire) == generation) {
    if (Clock::now() - arrival > kSpin) {
      // seq_cst pairs with the last arriver's: either it sees a sleeper and wakes it, or this thread
      // sees the new generation and does not sleep.
      sleepers_.fetch_add(1, std::memory_order_seq_cst);
      while (generation_.load(std::memory_order_seq_cst) == generation)
        sleep_while_equal(generation_, generation);
      sleepers_.fetch_sub(1, std::memory_order_relaxed);
      break;
    }
    for (int i = 0; i < 16; ++i) cpu_relax();
  }
  const Clock::time_point exit = Clock::now();
  const auto waited = exit - arrival, worked = arrival - last_barrier_exit;
  if (waited > kLongWait && waited > kContendedRatio * worked) {
    // One long wait can be a hiccup (an idle vCPU slow to wake: about once a second on a quiet VM);
    // a busy process deschedules a partner every few time slices. Two within kConfirm mean contention.
    const std::int64_t now = exit.time_since_epoch().count();
    const std::int64_t previous = last_long_wait.exchange(now, std::memory_order_relaxed);
    if (now - previous < std::chrono::duration_cast<Clock::duration>(kConfirm).count()) mark_contended(now);
  }
  last_barrier_exit = exit;
}

void note_region_start() {
  last_barrier_exit = region_start = Clock::now();
  region_start_wait_ns = previous_region >= kLongWait ? run_queue_wait_ns() : -1;
}

bool region_descheduled(std::int64_t wall_ns, std::int64_t run_queue_ns) {
  const std::int64_t long_wait = std::chrono::duration_cast<std::chrono::nanoseconds>(kLongWait).count();
  return run_queue_ns > long_wait && run_queue_ns * kDescheduledShare > wall_ns;
}

void note_region_end() {
  const Clock::time_point end = Clock::now();
  previous_region = end - region_start;
  if (region_start_wait_ns < 0) return;
  const std::int64_t waited = run_queue_wait_ns();
  if (waited < 0) return;
  const std::int64_t wall = std::chrono::duration_cast<std::chrono::nanoseconds>(previous_region).count();
  if (region_descheduled(wall, waited - region_start_wait_ns)) {
    // As for the barrier's long waits, one such region can be a hiccup; a busy process makes the next
    // regions the same. Two within kConfirm, or within two of these regions for longer ones, mean
    // contention.
    const std::int64_t now = end.time_since_epoch().count();
    // The end of a window counts as the first: a probe at 2 threads right after it confirms at once.
    const std::int64_t previous = std::max(last_descheduled_region.exchange(now, std::memory_order_relaxed),
                                           contended_until.load(std::memory_order_relaxed));
    const std::int64_t confirm = std::max<std::int64_t>(
        std::chrono::duration_cast<Clock::duration>(kConfirm).count(), 2 * previous_region.count());
    if (now - previous < confirm) mark_contended(now);
  }
}

std::int64_t contention_event_count() { return contention_events.load(std::memory_order_relaxed); }

namespace {
std::atomic<bool>& contention_fallback_flag() {
  static std::atomic<bool> on{true};
  return on;
}
}  // namespace

bool machine_contended() {
  return contention_fallback_flag().load(std::memory_order_relaxed) &&
         Clock::now().time_since_epoch().count() < contended_until.load(std::memory_order_relaxed);
}

void set_contention_fallback(bool on) { contention_fallback_flag().store(on, std::memory_order_relaxed); }
bool contention_fallback() { return contention_fallback_flag().load(std::memory_order_relaxed); }

namespace {
std::atomic<std::int64_t>& chunk_elements() {
  static std::atomic<std::int64_t> value{std::int64_t{1} << 21};
  return value;
}
}  // namespace

std::atomic<std::int64_t>& flops_per_thread() {
  static std::atomic<std::int64_t> value{2000000};
  return value;
}

std::int64_t min_flops_per_thread() { return flops_per_thread().load(std::memory_order_relaxed); }

void set_min_flops_per_thread(std::int64_t n) {
  flops_per_thread().store(n < 1 ? 1 : n, std::memory_order_relaxed);
}

namespace {
std::atomic<std::int64_t>& fuse_max() {
  static std::atomic<std::int64_t> value{64};
  return value;
}
}  // namespace

namespace {
std::atomic<bool>& concurrent_directions_flag() {
  static std::atomic<bool> value{true};
  return value;
}
}  // namespace

bool concurrent_directions() { return concurrent_directions_flag().load(std::memory_order_relaxed); }

void set_concurrent_directions(bool on) { concurrent_directions_flag().store(on, std::memory_order_relaxed); }

std::int64_t fuse_input_max_features() { return fuse_max().load(std::memory_order_relaxed); }

void set_fuse_input_max_features(std::int64_t n) {
  fuse_max().store(n < 0 ? 0 : n, std::memory_order_relaxed);
}

std::int64_t input_chunk_elements() { return chunk_elements().load(std::memory_order_relaxed); }

void set_input_chunk_elements(std::int64_t n) {
  chunk_elements().store(n < 1 ? 1 : n, std::memory_order_relaxed);
}

bool openmp_enabled() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace fusedrnn
