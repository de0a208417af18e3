// The one size syntax of iocatcher (src/size.ts has the same rules, for the TypeScript side): a
// number, decimals allowed, then an optional unit; every unit is 1024-based whatever its
// spelling (K = KB = KiB, M = MB = MiB, G, T), case ignored; a fractional byte count rounds to
// the nearest byte; below 2^53 bytes (what JavaScript counts exactly).
#pragma once

#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace ioc {

#define IOC_SIZE_SYNTAX "a number with an optional unit B, K/KB/KiB, M/MB/MiB, G/GB/GiB or T/TB/TiB (1024-based), e.g. 64MB or 1.5GiB"

inline bool parseSize(const char *text, uint64_t &out) {
  const char *p = text;
  while (isspace((unsigned char)*p)) p++;
  if (!isdigit((unsigned char)*p)) return false;
  const char *num = p;
  while (isdigit((unsigned char)*p)) p++;
  if (*p == '.') {
    p++;
    if (!isdigit((unsigned char)*p)) return false;
    while (isdigit((unsigned char)*p)) p++;
  }
  double value = strtod(num, nullptr);
  while (isspace((unsigned char)*p)) p++;
  int shift = 0;
  switch (toupper((unsigned char)*p)) {
    case 'K': shift = 10; break;
    case 'M': shift = 20; break;
    case 'G': shift = 30; break;
    case 'T': shift = 40; break;
    default: break;
  }
  if (shift) {
    p++;
    if (toupper((unsigned char)*p) == 'I') {
      p++;
      if (toupper((unsigned char)*p) != 'B') return false;
    }
    if (toupper((unsigned char)*p) == 'B') p++;
  } else if (toupper((unsigned char)*p) == 'B') {
    p++;
  }
  while (isspace((unsigned char)*p)) p++;
  if (*p) return false;
  double bytes = std::round(value * std::ldexp(1.0, shift));
  if (!(bytes < 9007199254740992.0)) return false;  // 2^53, as Number.isSafeInteger
  out = (uint64_t)bytes;
  return true;
}

}  // namespace ioc
