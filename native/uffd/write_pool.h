// Runs the pieces of a write-back on several threads at once (the ioc client leases one pooled
// connection per concurrent call, a file takes concurrent pwrites), so that a checkpoint keeps
// several driver writes in flight instead of one. The helpers come from a small process-wide
// pool of threads that block while idle.
#pragma once

#include <cstddef>
#include <functional>

namespace ummap {

// Calls body(i) once for every i in [0, count), on up to `parallelism` threads: the caller and
// helpers. Returns when every call has returned. body must not throw.
void runInParallel(size_t count, unsigned parallelism, const std::function<void(size_t)>& body);

}  // namespace ummap
