#include "fault_reader.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <thread>

#include "common/thread_name.h"
#include "mapping.h"
#include "uffd_abi.h"
#include "uffd_context.h"

namespace ummap {
namespace {

struct Registered {
  std::shared_ptr<Mapping> mapping;
  size_t length;
};

std::mutex registryMutex;
std::map<uintptr_t, Registered> registry;  // keyed by start address

class FaultReader {
 public:
  explicit FaultReader(std::vector<UffdContext*> contexts) {
    for (auto* c : contexts)
      if (c) contexts_.push_back(c);
    stopFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    thread_ = std::thread([this] {
      ioc::nameThisThread("ummap-faults");
      run();
    });
  }
  // Runs at process exit: wake the thread through the eventfd and wait for it.
  ~FaultReader() {
    uint64_t one = 1;
    if (write(stopFd_, &one, sizeof(one)) < 0) {
    }
    if (thread_.joinable()) thread_.join();
    close(stopFd_);
  }

 private:
  void run() {
    std::vector<pollfd> fds;
    fds.push_back({stopFd_, POLLIN, 0});
    for (auto* c : contexts_) fds.push_back({c->fd(), POLLIN, 0});
    for (;;) {
      int n = poll(fds.data(), fds.size(), -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[0].revents) return;
      for (size_t i = 1; i < fds.size(); i++)
        if (fds[i].revents & POLLIN) drain(*contexts_[i - 1]);
    }
  }

  // Read every pending message (several per read(2) when many threads fault at once).
  void drain(UffdContext& ctx) {
    uffd_msg msgs[32];
    for (;;) {
      ssize_t got = read(ctx.fd(), msgs, sizeof(msgs));
      if (got <= 0) return;  // EAGAIN: queue empty
      for (size_t i = 0; i < got / sizeof(uffd_msg); i++) {
        if (msgs[i].event != UFFD_EVENT_PAGEFAULT) continue;
        uintptr_t address = msgs[i].arg.pagefault.address;
        auto mapping = findMapping(address);
        if (mapping)
          mapping->handleFault(address, msgs[i].arg.pagefault.flags, msgs[i].arg.pagefault.feat.ptid);
        else
          ctx.wake(reinterpret_cast<void*>(address & ~(kPageSize - 1)), kPageSize);  // range just went away
      }
    }
  }

  std::vector<UffdContext*> contexts_;
  int stopFd_;
  std::thread thread_;
};

std::unique_ptr<FaultReader> reader;

}  // namespace

void startFaultReader(std::vector<UffdContext*> contexts) { reader = std::make_unique<FaultReader>(std::move(contexts)); }

void registerMapping(const std::shared_ptr<Mapping>& mapping, uintptr_t start, size_t length) {
  std::lock_guard<std::mutex> lock(registryMutex);
  registry[start] = {mapping, length};
}

void unregisterMapping(uintptr_t start) {
  std::lock_guard<std::mutex> lock(registryMutex);
  registry.erase(start);
}

std::shared_ptr<Mapping> findMapping(uintptr_t address) {
  std::lock_guard<std::mutex> lock(registryMutex);
  auto it = registry.upper_bound(address);
  if (it == registry.begin()) return nullptr;
  --it;
  if (address >= it->first + it->second.length) return nullptr;
  return it->second.mapping;
}

std::vector<std::shared_ptr<Mapping>> allMappings() {
  std::lock_guard<std::mutex> lock(registryMutex);
  std::vector<std::shared_ptr<Mapping>> all;
  for (auto& entry : registry) all.push_back(entry.second.mapping);
  return all;
}

}  // namespace ummap
