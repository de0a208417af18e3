// Names the calling thread (at most 15 characters), so that `top -H`, `ps -L` and perf show
// which role uses the CPU: the server's store workers and prefaulter, ummap's fault reader,
// read-ahead readers and write-back helpers.
#pragma once

#include <pthread.h>

namespace ioc {

inline void nameThisThread(const char* name) { pthread_setname_np(pthread_self(), name); }

}  // namespace ioc
