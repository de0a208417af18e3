// Events of the runtime that the application should hear of (a server restart seen by a
// mapping, lost pages, pages that could not be moved back), queued for JavaScript, which emits
// them as process warnings (src/ummap/mapping.ts) instead of the library writing to stderr.
#pragma once

#include <string>
#include <vector>

namespace ummap {

struct Notice {
  std::string code;     // e.g. IOC_SERVER_RESTARTED
  std::string message;
};

// Queue a notice (at most 256 are kept: the oldest are dropped, their count noted).
void postNotice(const std::string& code, const std::string& message);
// The notices queued so far, oldest first; the queue is empty afterwards.
std::vector<Notice> takeNotices();

}  // namespace ummap
