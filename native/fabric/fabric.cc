#include "fabric/fabric.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "common/failpoint.h"

namespace ioc {
namespace fabric {

FabricError::FabricError(const std::string &call, int ret)
    : std::runtime_error(call + ": " + fi_strerror(ret < 0 ? -ret : ret) + " (" + std::to_string(ret) + ")"),
      code_(ret < 0 ? ret : -ret) {}

std::string defaultProvider() {
  const char *env = getenv("FI_PROVIDER");
  return env && *env ? env : "tcp;ofi_rxm";
}

Info::Info(const Options &opts) {
  fi_info *hints = fi_allocinfo();
  if (!hints) throw FabricError("fi_allocinfo", -FI_ENOMEM);
  hints->ep_attr->type = FI_EP_RDM;
  hints->caps = FI_MSG | FI_RMA;
  hints->mode = FI_CONTEXT | FI_CONTEXT2;  // every op context starts with a fi_context2
  // Modes we know how to obey; the provider returns the subset it needs.
  hints->domain_attr->mr_mode = FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY;
  hints->domain_attr->threading = FI_THREAD_DOMAIN;
  std::string prov = opts.provider.empty() ? defaultProvider() : opts.provider;
  hints->fabric_attr->prov_name = strdup(prov.c_str());
  const char *node = opts.node.empty() ? nullptr : opts.node.c_str();
  const char *service = opts.service.empty() ? nullptr : opts.service.c_str();
  // shm addresses are names, not IP:port: both sides derive the server's name from the port.
  // The original server takes the name shm gives fi_getinfo(IP, PORT, FI_SOURCE), whose region
  // is /dev/shm/IP:PORT (libfabric 1.17): when that region exists, a client connects the
  // original's way, fi_getinfo(IP, PORT) (our server keeps its port-only name: see docs/c-api.md).
  std::string shmName;
  struct stat st;
  if (prov == "shm" && !opts.listen && node && service &&
      stat(("/dev/shm/" + std::string(node) + ":" + service).c_str(), &st) == 0) {
    // the original server's name: fi_getinfo resolves it (dest_addr fi_ns://IP:PORT)
  } else if (prov == "shm" && opts.listen && IOC_FAILPOINT(fabric_original_shm_name)) {
    // Persona (server): listen under the original server's name, to test the client's lookup.
  } else if (prov == "shm") {
    if (opts.listen) {
      shmName = "iocatcher-" + opts.service;
      node = shmName.c_str();
    } else {
      shmName = "fi_shm://iocatcher-" + opts.service + ":0:0";  // what the server's fi_getname reports
      node = nullptr;
      hints->dest_addr = strdup(shmName.c_str());
      hints->dest_addrlen = shmName.size() + 1;
      hints->addr_format = FI_ADDR_STR;
    }
    service = nullptr;
  }
  int ret = fi_getinfo(FI_VERSION(1, 11), node, service, opts.listen ? FI_SOURCE : 0, hints, &info_);
  fi_freeinfo(hints);
  if (ret) throw FabricError("fi_getinfo(" + prov + ")", ret);
}

Info::~Info() {
  if (info_) fi_freeinfo(info_);
}

Fabric::Fabric(const Info &info) { check(fi_fabric(info->fabric_attr, &fid_, nullptr), "fi_fabric"); }

Domain::Domain(Fabric &fabric, const Info &info) {
  check(fi_domain(fabric.get(), info.get(), &fid_, nullptr), "fi_domain");
}

CompletionQueue::CompletionQueue(Domain &domain, size_t size) {
  fi_cq_attr attr{};
  attr.size = size;
  attr.format = FI_CQ_FORMAT_MSG;
  // A file descriptor first (it lets an event loop wait on the CQ), then whatever the provider
  // has, then none (poll with short sleeps).
  attr.wait_obj = FI_WAIT_FD;
  if (fi_cq_open(domain.get(), &attr, &fid_, nullptr) == 0) {
    if (fi_control(&fid_->fid, FI_GETWAIT, &waitFd_) != 0) waitFd_ = -1;
    return;
  }
  attr.wait_obj = FI_WAIT_UNSPEC;
  if (fi_cq_open(domain.get(), &attr, &fid_, nullptr) == 0) return;
  attr.wait_obj = FI_WAIT_NONE;
  waitable_ = false;
  check(fi_cq_open(domain.get(), &attr, &fid_, nullptr), "fi_cq_open");
}

bool CompletionQueue::tryWait(Fabric &fabric) {
  fid *fids[1] = {&fid_->fid};
  return fi_trywait(fabric.get(), fids, 1) == FI_SUCCESS;
}

size_t CompletionQueue::readError(Completion *out) {
  fi_cq_err_entry err{};
  ssize_t ret = fi_cq_readerr(fid_, &err, 0);
  if (ret < 0) return 0;
  out->context = err.op_context;
  out->flags = err.flags;
  out->len = err.len;
  out->error = err.err ? -err.err : -FI_EIO;
  return 1;
}

// Turns the result of fi_cq_read/fi_cq_sread into Completions (an error entry is one
// completion carrying its error).
size_t CompletionQueue::collect(ssize_t ret, const fi_cq_msg_entry *entries, Completion *out, const char *call) {
  if (ret == -FI_EAVAIL) return readError(out);
  if (ret == -FI_EAGAIN || ret == -FI_ETIMEDOUT || ret == -FI_EINTR) return 0;
  check((int)ret, call);
  for (ssize_t i = 0; i < ret; i++) {
    out[i].context = entries[i].op_context;
    out[i].flags = entries[i].flags;
    out[i].len = entries[i].len;
    out[i].error = 0;
  }
  return (size_t)ret;
}

size_t CompletionQueue::poll(Completion *out, size_t max) {
  fi_cq_msg_entry entries[16];
  return collect(fi_cq_read(fid_, entries, std::min<size_t>(max, 16)), entries, out, "fi_cq_read");
}

size_t CompletionQueue::wait(Completion *out, size_t max, int timeoutMs) {
  if (!waitable_) {
    size_t n = poll(out, max);
    if (n == 0 && timeoutMs != 0) std::this_thread::sleep_for(std::chrono::microseconds(50));
    return n;
  }
  fi_cq_msg_entry entries[16];
  return collect(fi_cq_sread(fid_, entries, std::min<size_t>(max, 16), nullptr, timeoutMs), entries, out, "fi_cq_sread");
}

AddressVector::AddressVector(Domain &domain) {
  fi_av_attr attr{};
  attr.type = FI_AV_TABLE;
  check(fi_av_open(domain.get(), &attr, &fid_, nullptr), "fi_av_open");
}

fi_addr_t AddressVector::insert(const void *addr) {
  fi_addr_t out = FI_ADDR_UNSPEC;
  int ret = fi_av_insert(fid_, addr, 1, &out, 0, nullptr);
  if (ret != 1) throw FabricError("fi_av_insert", ret < 0 ? ret : -FI_EINVAL);
  return out;
}

void AddressVector::remove(fi_addr_t addr) { fi_av_remove(fid_, &addr, 1, 0); }

MemoryRegion::MemoryRegion(Domain &domain, const Info &info, void *buf, size_t len, uint64_t access,
                           uint64_t requestedKey) {
  check(fi_mr_reg(domain.get(), buf, len, access, 0, requestedKey, 0, &fid_, nullptr), "fi_mr_reg");
  remoteBase_ = (info.mrMode() & FI_MR_VIRT_ADDR) ? (uint64_t)(uintptr_t)buf : 0;
}

Endpoint::Endpoint(Domain &domain, const Info &info, CompletionQueue &cq, AddressVector &av) {
  check(fi_endpoint(domain.get(), info.get(), &fid_, nullptr), "fi_endpoint");
  check(fi_ep_bind(fid_, &cq.get()->fid, FI_TRANSMIT | FI_RECV), "fi_ep_bind(cq)");
  check(fi_ep_bind(fid_, &av.get()->fid, 0), "fi_ep_bind(av)");
  check(fi_enable(fid_), "fi_enable");
}

std::vector<char> Endpoint::name() const {
  std::vector<char> buf(256);
  size_t len = buf.size();
  check(fi_getname(&fid_->fid, buf.data(), &len), "fi_getname");
  buf.resize(len);
  return buf;
}

ssize_t Endpoint::postRecv(void *buf, size_t len, void *desc, void *ctx) {
  return fi_recv(fid_, buf, len, desc, FI_ADDR_UNSPEC, ctx);
}
ssize_t Endpoint::send(const void *buf, size_t len, void *desc, fi_addr_t dest, void *ctx) {
  return fi_send(fid_, buf, len, desc, dest, ctx);
}
ssize_t Endpoint::rmaRead(void *buf, size_t len, void *desc, fi_addr_t src, uint64_t addr, uint64_t key, void *ctx) {
  return fi_read(fid_, buf, len, desc, src, addr, key, ctx);
}
ssize_t Endpoint::rmaWrite(const void *buf, size_t len, void *desc, fi_addr_t dest, uint64_t addr, uint64_t key,
                           void *ctx) {
  return fi_write(fid_, buf, len, desc, dest, addr, key, ctx);
}

Transport::Transport(const Options &opts, size_t cqSize)
    : info(opts), fabric(info), domain(fabric, info), cq(domain, cqSize), av(domain), ep(domain, info, cq, av) {}

}  // namespace fabric
}  // namespace ioc
