// Why the calling thread's last failed call on a client handle failed, as ioc_client_last_error
// gives it: the server's ReplyReason, or the client's own words for a refusal it made without
// asking the server (one without the namespace extension). One record per thread and handle,
// kept in thread-local storage: no lock on the call path.
#pragma once

#include <cstdint>
#include <string>

namespace ioc {
namespace client {

// Around one C API call on a handle: the thread's record of the handle is cleared when the call
// starts and set to the reason noted during the call when it ends. A call made inside another
// (cow's flush of its source) belongs to the outer one.
class CallReasonScope {
 public:
  explicit CallReasonScope(uint64_t clientSerial);
  ~CallReasonScope();
  CallReasonScope(const CallReasonScope &) = delete;
  CallReasonScope &operator=(const CallReasonScope &) = delete;

 private:
  uint64_t serial_;
};

// The reason of the call in progress on this thread (the last one noted wins).
void noteCallReason(const std::string &reason);
// The thread's record for the handle ("" when none): valid until the thread's next call on it.
const char *threadCallReason(uint64_t clientSerial);
// Forget the thread's record of a handle that is being freed.
void dropCallReason(uint64_t clientSerial);

}  // namespace client
}  // namespace ioc
