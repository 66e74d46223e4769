// Which reduced kernels run: AVX512-BF16 / AVX512-VNNI where CPUID reports them and the AVX-512 kernel
// table is in use (so FUSEDRNN_ISA=avx2 or generic caps them to the portable kernels), else the portable
// ones. Compiled with baseline flags.
#include <algorithm>
#include <atomic>

#include "dispatch/kernel_table.h"
#include "gemm/bf16_kernels.h"
#include "reduced/reduced_microkernel.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#define FUSEDRNN_X86 1
#endif

namespace fusedrnn {
namespace {

struct ReducedSupport {
  bool avx512_bf16 = false;
  bool avx512_vnni = false;
  bool avx_vnni = false;  // the VEX form, on 256-bit registers
};

ReducedSupport detect() {
  ReducedSupport s;
#if defined(FUSEDRNN_X86)
  unsigned a = 0, b = 0, c = 0, d = 0;
  (void)a, (void)b, (void)c, (void)d;
#endif
#if defined(FUSEDRNN_X86) && defined(FUSEDRNN_HAVE_REDUCED_AVX512)
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) s.avx512_vnni = c & (1u << 11);
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) s.avx512_bf16 = a & (1u << 5);
#endif
#if defined(FUSEDRNN_X86) && defined(FUSEDRNN_HAVE_REDUCED_AVXVNNI)
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) s.avx_vnni = a & (1u << 4);
#endif
  return s;
}

const ReducedSupport& support() {
  static const ReducedSupport s = detect();
  return s;
}

// The AVX-512 kernels need the AVX-512 state saved by the OS (the avx512 table usable) and the extension;
// the AVX-VNNI one the AVX state (the avx2 table usable).
bool isa_usable(const char* name) {
  const auto& supported = isa_report().supported;
  return std::find(supported.begin(), supported.end(), name) != supported.end();
}

std::vector<const ReducedPath*> usable_paths(WeightFormat f) {
  std::vector<const ReducedPath*> paths;
#ifdef FUSEDRNN_HAVE_REDUCED_AVX512
  if (isa_usable("avx512")) {
    if (f == WeightFormat::bf16 && support().avx512_bf16) paths.push_back(&reduced_avx512::bf16_path());
    if (f == WeightFormat::int8 && support().avx512_vnni) paths.push_back(&reduced_avx512::int8_path());
  }
#endif
#ifdef FUSEDRNN_HAVE_REDUCED_AVXVNNI
  if (isa_usable("avx2") && f == WeightFormat::int8 && support().avx_vnni) {
    paths.push_back(&reduced_avxvnni::int8_path());
  }
#endif
  paths.push_back(f == WeightFormat::bf16 ? &reduced_generic::bf16_path() : &reduced_generic::int8_path());
  return paths;
}

std::atomic<const ReducedPath*> chosen[2] = {nullptr, nullptr};  // a test's choice for bf16, int8

int slot(WeightFormat f) { return f == WeightFormat::int8 ? 1 : 0; }

}  // namespace

const ReducedPath& active_reduced_path(WeightFormat f) {
  if (const ReducedPath* p = chosen[slot(f)].load(std::memory_order_acquire)) return *p;
  // The best usable path the active ISA allows: the AVX-512 kernels only under the avx512 table, the
  // AVX-VNNI one under it or the avx2 table.
  const std::string active = active_kernels().isa;
  for (const ReducedPath* p : usable_paths(f)) {
    const std::string name = p->name;
    const bool allowed = name == "generic" || (name == "avx_vnni" && active != "generic") ||
                         (name.rfind("avx512", 0) == 0 && active == "avx512");
    if (allowed) return *p;
  }
  return f == WeightFormat::bf16 ? reduced_generic::bf16_path() : reduced_generic::int8_path();
}

std::vector<std::string> reduced_paths(WeightFormat f) {
  std::vector<std::string> names;
  for (const ReducedPath* p : usable_paths(f)) names.emplace_back(p->name);
  return names;
}

const Bf16ProductKernels* native_bf16_product_kernels() {
#ifdef FUSEDRNN_HAVE_REDUCED_AVX512
  if (isa_usable("avx512") && support().avx512_bf16) return &reduced_avx512::bf16_product_kernels();
#endif
  return nullptr;
}

bool bf16_products_native(const KernelTable& table) {
  return native_bf16_product_kernels() && std::string(table.isa) == "avx512" &&
         std::string(active_reduced_path(WeightFormat::bf16).name) == "avx512_bf16";
}

bool bf16_products_native() { return bf16_products_native(active_kernels()); }

bool select_reduced_path(WeightFormat f, const std::string& name) {
  if (name.empty()) {  // back to the automatic choice
    chosen[slot(f)].store(nullptr, std::memory_order_release);
    return true;
  }
  for (const ReducedPath* p : usable_paths(f)) {
    if (name == p->name) {
      chosen[slot(f)].store(p, std::memory_order_release);
      return true;
    }
  }
  return false;
}

}  // namespace fusedrnn
