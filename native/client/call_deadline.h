// A deadline for the calls a thread makes through the C API (ioc_client_*): each call ends by
// the earlier of it and its own timeout, reconnects included. The ummap fault handler sets it so
// that a fault's reads, retries and reconnects end within UMMAP_FAULT_TIMEOUT_MS.
#pragma once

#include <chrono>

namespace ioc {
namespace client {

// {}: none (the default).
void setThreadCallDeadline(std::chrono::steady_clock::time_point deadline);
std::chrono::steady_clock::time_point threadCallDeadline();

struct ScopedCallDeadline {
  explicit ScopedCallDeadline(std::chrono::steady_clock::time_point d) : saved_(threadCallDeadline()) {
    setThreadCallDeadline(d);
  }
  ~ScopedCallDeadline() { setThreadCallDeadline(saved_); }
  std::chrono::steady_clock::time_point saved_;
};

}  // namespace client
}  // namespace ioc
