// RAII wrappers over the libfabric objects iocatcher uses (FI_EP_RDM with FI_MSG | FI_RMA).
// Every failing libfabric call throws FabricError naming the call and its fi_strerror text.
#pragma once

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace ioc {
namespace fabric {

class FabricError : public std::runtime_error {
 public:
  FabricError(const std::string &call, int ret);
  int code() const { return code_; }  // negative libfabric/errno value

 private:
  int code_;
};

// Throws FabricError when ret < 0.
inline void check(int ret, const char *call) {
  if (ret < 0) throw FabricError(call, ret);
}

// Unique owner of any fid (closed with fi_close).
template <class Fid>
class FidHolder {
 public:
  FidHolder() = default;
  explicit FidHolder(Fid *f) : fid_(f) {}
  FidHolder(const FidHolder &) = delete;
  FidHolder &operator=(const FidHolder &) = delete;
  FidHolder(FidHolder &&o) noexcept : fid_(o.fid_) { o.fid_ = nullptr; }
  FidHolder &operator=(FidHolder &&o) noexcept {
    reset();
    fid_ = o.fid_;
    o.fid_ = nullptr;
    return *this;
  }
  ~FidHolder() { reset(); }
  void reset() {
    if (fid_) fi_close(&fid_->fid);
    fid_ = nullptr;
  }
  Fid *get() const { return fid_; }
  // Forget the fid without closing it (the caller closed it and checked the result).
  void release() { fid_ = nullptr; }

 protected:
  Fid *fid_ = nullptr;
};

struct Options {
  std::string provider;  // empty: FI_PROVIDER or the default "tcp;ofi_rxm"
  std::string node;      // IP address
  std::string service;   // port
  bool listen = false;   // server: bind node:service (FI_SOURCE); client: node:service is the peer
};

// fi_getinfo result (owned).
class Info {
 public:
  explicit Info(const Options &opts);
  ~Info();
  Info(const Info &) = delete;
  Info &operator=(const Info &) = delete;
  fi_info *get() const { return info_; }
  fi_info *operator->() const { return info_; }
  uint64_t mrMode() const { return info_->domain_attr->mr_mode; }
  std::string providerName() const { return info_->fabric_attr->prov_name; }

 private:
  fi_info *info_ = nullptr;
};

class Fabric : public FidHolder<fid_fabric> {
 public:
  explicit Fabric(const Info &info);
};

class Domain : public FidHolder<fid_domain> {
 public:
  Domain(Fabric &fabric, const Info &info);
};

// One completion: the context given to the operation, and its status.
struct Completion {
  void *context = nullptr;
  uint64_t flags = 0;
  size_t len = 0;
  int error = 0;  // 0, or a negative libfabric error for a failed operation
};

class CompletionQueue : public FidHolder<fid_cq> {
 public:
  CompletionQueue(Domain &domain, size_t size);
  // Non-blocking read of up to max completions (errors included). Drives provider progress.
  size_t poll(Completion *out, size_t max);
  // Blocking wait up to timeoutMs for completions (falls back to poll + short sleep
  // when the provider has no wait object).
  size_t wait(Completion *out, size_t max, int timeoutMs);
  bool hasWaitObject() const { return waitable_; }
  // A descriptor that becomes readable when completions may be ready (-1: none). Before
  // sleeping on it, tryWait() must return true; otherwise poll() first.
  int waitFd() const { return waitFd_; }
  bool tryWait(Fabric &fabric);
  // Wake a thread blocked in wait() (from any thread).
  void signal() { if (waitable_) fi_cq_signal(fid_); }

 private:
  size_t readError(Completion *out);
  size_t collect(ssize_t ret, const fi_cq_msg_entry *entries, Completion *out, const char *call);
  bool waitable_ = true;
  int waitFd_ = -1;
};

class AddressVector : public FidHolder<fid_av> {
 public:
  AddressVector(Domain &domain);
  fi_addr_t insert(const void *addr);
  void remove(fi_addr_t addr);
};

// A registered memory region with the key/desc/address a peer needs for RMA.
class MemoryRegion : public FidHolder<fid_mr> {
 public:
  MemoryRegion() = default;
  MemoryRegion(Domain &domain, const Info &info, void *buf, size_t len, uint64_t access, uint64_t requestedKey);
  MemoryRegion(MemoryRegion &&) = default;
  MemoryRegion &operator=(MemoryRegion &&) = default;
  void *desc() const { return fid_ ? fi_mr_desc(fid_) : nullptr; }
  uint64_t key() const { return fid_ ? fi_mr_key(fid_) : 0; }
  // Address a peer must use for RMA at the start of buf: the virtual address with
  // FI_MR_VIRT_ADDR, else 0 (offsets into the region).
  uint64_t remoteAddr() const { return remoteBase_; }

 private:
  uint64_t remoteBase_ = 0;
};

class Endpoint : public FidHolder<fid_ep> {
 public:
  Endpoint(Domain &domain, const Info &info, CompletionQueue &cq, AddressVector &av);
  std::vector<char> name() const;
  // Each returns 0 or a negative error (-FI_EAGAIN means "progress the CQ and retry").
  ssize_t postRecv(void *buf, size_t len, void *desc, void *ctx);
  ssize_t send(const void *buf, size_t len, void *desc, fi_addr_t dest, void *ctx);
  ssize_t rmaRead(void *buf, size_t len, void *desc, fi_addr_t src, uint64_t addr, uint64_t key, void *ctx);
  ssize_t rmaWrite(const void *buf, size_t len, void *desc, fi_addr_t dest, uint64_t addr, uint64_t key, void *ctx);
};

// The whole stack for one endpoint, in construction order.
struct Transport {
  explicit Transport(const Options &opts, size_t cqSize = 1024);
  Info info;
  Fabric fabric;
  Domain domain;
  CompletionQueue cq;
  AddressVector av;
  Endpoint ep;
  bool needsLocalMr() const { return info.mrMode() & FI_MR_LOCAL; }
};

std::string defaultProvider();

}  // namespace fabric
}  // namespace ioc
