// ISA selection: CPUID says what the CPU implements, XGETBV what the OS saves on context switches (an
// AVX-512 CPU under an OS that does not save ZMM state must not use it). Compiled with baseline flags.
#include <atomic>
#include <cstdint>
#include <cstdlib>

#include "dispatch/kernel_table.h"

// CPUID and XGETBV: <cpuid.h> and inline assembly with GCC and Clang (clang-cl too: its _xgetbv needs
// the xsave target feature), MSVC's own intrinsics otherwise.
#if defined(_MSC_VER) && !defined(__clang__) && defined(_M_X64)
#include <intrin.h>
#define FUSEDRNN_X86 1
#define FUSEDRNN_MSVC_CPUID 1
#elif (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define FUSEDRNN_X86 1
#endif
#if defined(FUSEDRNN_X86) && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

namespace fusedrnn {
namespace {

struct CpuSupport {
  bool avx2_fma = false;
  bool avx512 = false;  // F, BW, DQ, VL
};

#ifdef FUSEDRNN_X86
std::uint64_t xgetbv0() {
#ifdef FUSEDRNN_MSVC_CPUID
  return _xgetbv(0);
#else
  std::uint32_t eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<std::uint64_t>(edx) << 32) | eax;
#endif
}

// EAX, EBX, ECX, EDX of CPUID leaf / subleaf; false when the CPU has no such leaf.
bool cpuid(unsigned leaf, unsigned subleaf, unsigned& a, unsigned& b, unsigned& c, unsigned& d) {
#ifdef FUSEDRNN_MSVC_CPUID
  int regs[4];
  __cpuid(regs, 0);
  if (static_cast<unsigned>(regs[0]) < leaf) return false;
  __cpuidex(regs, static_cast<int>(leaf), static_cast<int>(subleaf));
  a = static_cast<unsigned>(regs[0]), b = static_cast<unsigned>(regs[1]);
  c = static_cast<unsigned>(regs[2]), d = static_cast<unsigned>(regs[3]);
  return true;
#else
  return __get_cpuid_count(leaf, subleaf, &a, &b, &c, &d) != 0;
#endif
}

// Whether the OS saves the AVX-512 state (opmask, ZMM_Hi256, Hi16_ZMM). macOS turns it on lazily, at a
// thread's first AVX-512 instruction, so XCR0 does not show it beforehand: its kernel's flag does.
bool os_saves_avx512(std::uint64_t xcr0) {
  if ((xcr0 & 0xE6) == 0xE6) return true;
#ifdef __APPLE__
  int flag = 0;
  std::size_t size = sizeof flag;
  return sysctlbyname("hw.optional.avx512f", &flag, &size, nullptr, 0) == 0 && flag != 0;
#else
  return false;
#endif
}
#endif

CpuSupport detect() {
  CpuSupport s;
#ifdef FUSEDRNN_X86
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!cpuid(1, 0, a, b, c, d)) return s;
  const bool osxsave = c & (1u << 27), avx = c & (1u << 28), fma = c & (1u << 12);
  if (!osxsave || !avx) return s;
  const std::uint64_t xcr0 = xgetbv0();
  const bool os_avx = (xcr0 & 0x6) == 0x6;  // SSE and AVX state
  const bool os_avx512 = os_avx && os_saves_avx512(xcr0);
  if (!cpuid(7, 0, a, b, c, d)) return s;
  const bool avx2 = b & (1u << 5), f = b & (1u << 16), dq = b & (1u << 17), bw = b & (1u << 30),
             vl = b & (1u << 31);
  s.avx2_fma = os_avx && avx2 && fma;
  s.avx512 = s.avx2_fma && os_avx512 && f && dq && bw && vl;
#endif
  return s;
}

struct Candidate {
  const char* name;
  const KernelTable& (*table)();
  bool usable;
};

std::vector<Candidate> candidates() {
  const CpuSupport cpu = detect();
  std::vector<Candidate> list;
#ifdef FUSEDRNN_HAVE_AVX512
  list.push_back({"avx512", &avx512::kernel_table, cpu.avx512});
#endif
#ifdef FUSEDRNN_HAVE_AVX2
  list.push_back({"avx2", &avx2::kernel_table, cpu.avx2_fma});
#endif
  list.push_back({"generic", &generic::kernel_table, true});
  (void)cpu;  // unused when no x86 path is compiled in (aarch64, other compilers)
  return list;
}

struct Selection {
  IsaReport report;
  std::atomic<const KernelTable*> table{nullptr};
};

Selection& selection() {
  static Selection* s = [] {
    auto* sel = new Selection();
    const auto list = candidates();
    for (const auto& c : list) {
      if (c.usable) sel->report.supported.emplace_back(c.name);
    }
    const char* env = std::getenv("FUSEDRNN_ISA");
    const std::string requested = env ? env : "";
    // The best usable ISA at or below the requested one; the best one when nothing (or something
    // unknown) is requested.
    auto rank = [](const std::string& name) {
      return name == "avx512" ? 2 : name == "avx2" ? 1 : name == "generic" ? 0 : -1;
    };
    const bool known = requested.empty() || rank(requested) >= 0;
    const int cap = known && !requested.empty() ? rank(requested) : 2;
    for (const auto& c : list) {
      if (c.usable && rank(c.name) <= cap) {
        sel->report.active = c.name;
        sel->table.store(&c.table());
        break;
      }
    }
    if (!known) {
      sel->report.warning =
          "FUSEDRNN_ISA='" + requested + "' is not one of avx512, avx2, generic; using " + sel->report.active;
    } else if (!requested.empty() && sel->report.active != requested) {
      sel->report.warning = "FUSEDRNN_ISA='" + requested +
                            "' is not supported by this CPU/OS or build; using " + sel->report.active;
    }
    return sel;
  }();
  return *s;
}

}  // namespace

const KernelTable& active_kernels() { return *selection().table.load(std::memory_order_acquire); }

const IsaReport& isa_report() { return selection().report; }

bool select_isa(const std::string& name) {
  for (const auto& c : candidates()) {
    if (name == c.name && c.usable) {
      selection().table.store(&c.table(), std::memory_order_release);
      selection().report.active = name;
      return true;
    }
  }
  return false;
}

}  // namespace fusedrnn
