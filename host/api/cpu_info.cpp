// sigreg::cpu_info(): the CPU's name and widest vector ISA (here), what the CPU backend runs on it
// (host/cpu/cpu_info.cpp, or nothing in a build without that backend).
#include <cstring>
#include <string>

#include "host/common/backend.hpp"
#include "sigreg/sigreg.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#endif

namespace sigreg {
namespace {

std::string brand_string() {
#if defined(__x86_64__) && defined(__GNUC__)
  unsigned int regs[12] = {};  // __get_cpuid leaves a leaf the CPU lacks zero: no brand string
  for (unsigned int leaf = 0; leaf < 3; ++leaf)
    __get_cpuid(0x80000002u + leaf, &regs[4 * leaf], &regs[4 * leaf + 1], &regs[4 * leaf + 2],
                &regs[4 * leaf + 3]);
  char text[sizeof(regs) + 1] = {};
  std::memcpy(text, regs, sizeof(regs));
  std::string name(text);
  const size_t first = name.find_first_not_of(' '), last = name.find_last_not_of(' ');
  return first == std::string::npos ? "unknown x86-64 CPU" : name.substr(first, last - first + 1);
#else
  return "unknown CPU";
#endif
}

}  // namespace

std::string detail::widest_isa() {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  // GCC's and Clang's checks include the OS's support for the wider registers (XGETBV).
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq"))
    return "avx512";
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "avx2-fma";
  if (__builtin_cpu_supports("avx")) return "avx";
  return "sse2";
#else
  return "unknown";
#endif
}

CpuInfo cpu_info() {
  CpuInfo info;
  info.cpu = brand_string();
  info.isa = detail::widest_isa();
  detail::describe_cpu_backend(&info);
  return info;
}

}  // namespace sigreg
