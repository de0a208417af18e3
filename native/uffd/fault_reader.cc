#include "fault_reader.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
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

// FaultsHeld: how many are alive, whether the reader is serving a fault, and the eventfd that
// tells the reader the last one ended.
std::mutex holdMutex;
std::condition_variable holdChanged;
int holds = 0;
bool serving = false;
int resumeFd = -1;

class FaultReader {
 public:
  explicit FaultReader(std::vector<UffdContext*> contexts) {
    for (auto* c : contexts)
      if (c) contexts_.push_back(c);
    stopFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    resumeFd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
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
    fds.push_back({resumeFd, POLLIN, 0});
    for (auto* c : contexts_) fds.push_back({c->fd(), POLLIN, 0});
    for (;;) {
      int n = poll(fds.data(), fds.size(), -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[0].revents) return;
      if (fds[1].revents) {
        uint64_t count;
        if (read(resumeFd, &count, sizeof(count)) < 0) {
        }
      }
      for (size_t i = 2; i < fds.size(); i++)
        if (fds[i].revents & POLLIN) drain(*contexts_[i - 2]);
      serveHeld();
    }
  }

  // Serve one fault, or keep it for later while a FaultsHeld exists.
  void serve(UffdContext& ctx, const uffd_msg& msg) {
    {
      std::lock_guard<std::mutex> lock(holdMutex);
      if (holds > 0) {
        held_.push_back({&ctx, msg});
        return;
      }
      serving = true;
    }
    uintptr_t address = msg.arg.pagefault.address;
    auto mapping = findMapping(address);
    if (mapping)
      mapping->handleFault(address, msg.arg.pagefault.flags, msg.arg.pagefault.feat.ptid);
    else
      ctx.wake(reinterpret_cast<void*>(address & ~(kPageSize - 1)), kPageSize);  // range just went away
    {
      std::lock_guard<std::mutex> lock(holdMutex);
      serving = false;
    }
    holdChanged.notify_all();
  }

  // The faults kept while held, in arrival order, once nothing holds them.
  void serveHeld() {
    while (!held_.empty()) {
      {
        std::lock_guard<std::mutex> lock(holdMutex);
        if (holds > 0) return;
      }
      auto next = held_.front();
      held_.pop_front();
      serve(*next.first, next.second);
    }
  }

  // Read every pending message (several per read(2) when many threads fault at once).
  void drain(UffdContext& ctx) {
    uffd_msg msgs[32];
    for (;;) {
      ssize_t got = read(ctx.fd(), msgs, sizeof(msgs));
      if (got <= 0) return;  // EAGAIN: queue empty
      for (size_t i = 0; i < got / sizeof(uffd_msg); i++) {
        // UFFD_EVENT_REMAP (a snapshot moved by mremap) needs only to be read.
        if (msgs[i].event != UFFD_EVENT_PAGEFAULT) continue;
        serve(ctx, msgs[i]);
      }
    }
  }

  std::vector<UffdContext*> contexts_;
  std::deque<std::pair<UffdContext*, uffd_msg>> held_;  // faults that arrived while held
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

FaultsHeld::FaultsHeld() {
  std::unique_lock<std::mutex> lock(holdMutex);
  holds++;
  holdChanged.wait(lock, [] { return !serving; });
}

FaultsHeld::~FaultsHeld() {
  std::lock_guard<std::mutex> lock(holdMutex);
  if (--holds == 0 && resumeFd >= 0) {
    uint64_t one = 1;
    if (write(resumeFd, &one, sizeof(one)) < 0) {
    }
  }
}

std::vector<std::shared_ptr<Mapping>> allMappings() {
  std::lock_guard<std::mutex> lock(registryMutex);
  std::vector<std::shared_ptr<Mapping>> all;
  for (auto& entry : registry) all.push_back(entry.second.mapping);
  return all;
}

}  // namespace ummap
