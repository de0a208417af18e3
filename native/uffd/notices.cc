#include "notices.h"

#include <mutex>

namespace ummap {
namespace {
std::mutex noticesMutex;
std::vector<Notice> queued;
size_t dropped = 0;
constexpr size_t kMostQueued = 256;
}  // namespace

void postNotice(const std::string& code, const std::string& message) {
  std::lock_guard<std::mutex> lock(noticesMutex);
  if (queued.size() >= kMostQueued) {
    queued.erase(queued.begin());
    dropped++;
  }
  queued.push_back({code, message});
}

std::vector<Notice> takeNotices() {
  std::lock_guard<std::mutex> lock(noticesMutex);
  std::vector<Notice> out;
  out.swap(queued);
  if (dropped) {
    out.insert(out.begin(), {"IOC_NOTICES_DROPPED", std::to_string(dropped) + " earlier notices were dropped"});
    dropped = 0;
  }
  return out;
}

}  // namespace ummap
