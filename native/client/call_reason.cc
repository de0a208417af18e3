#include "client/call_reason.h"

#include <atomic>
#include <map>

#include "client/client_pool.h"

namespace ioc {
namespace client {

namespace {
thread_local int tlsDepth = 0;
thread_local std::string tlsPending;
// Only handles whose last call on this thread failed with a reason have a record. A map: its
// nodes stay in place, so a pointer handed out for one handle survives changes to the others.
thread_local std::map<uint64_t, std::string> tlsRecords;
std::atomic<uint64_t> g_nextSerial{1};
}  // namespace

uint64_t nextClientSerial() { return g_nextSerial++; }

CallReasonScope::CallReasonScope(uint64_t clientSerial) : serial_(clientSerial) {
  if (tlsDepth++ > 0) return;
  tlsPending.clear();
  if (!tlsRecords.empty()) tlsRecords.erase(serial_);
}

CallReasonScope::~CallReasonScope() {
  if (--tlsDepth > 0 || tlsPending.empty()) return;
  tlsRecords[serial_] = tlsPending;
  tlsPending.clear();
}

void noteCallReason(const std::string &reason) {
  if (!reason.empty()) tlsPending = reason;
}

const char *threadCallReason(uint64_t clientSerial) {
  auto it = tlsRecords.find(clientSerial);
  return it == tlsRecords.end() ? "" : it->second.c_str();
}

void dropCallReason(uint64_t clientSerial) { tlsRecords.erase(clientSerial); }

}  // namespace client
}  // namespace ioc
