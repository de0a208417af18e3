// Pipelined read-ahead (the fault path is Mapping::handleFault in mapping_faults.cc). A sequential scan
// over a network store is bound by one read at a time followed by its UFFDIO_COPY on the
// handler thread. Instead, the handler reads only the faulting segment itself, and queues the
// next segments here: a small process-wide pool of reader threads (each call leases its own
// pooled ioc connection) reads them several at a time into per-thread buffers and installs each
// one as soon as it arrives (Mapping::readAheadRun), while the others are still on the wire.
// The handler thread is never blocked by this pool, so a fault elsewhere is served at once.
//
// Bounded: at most the mapping's window of segments queued or in flight (Mapping::
// planLoad), at most kMaxReaders threads, one piece-sized (1 MiB) buffer per busy thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace ummap {

class Mapping;

// Queue a read-ahead of `segment` (the mapping has marked it queued); starts readers up to
// `readers` (capped) on first use.
void readAheadSubmit(const std::shared_ptr<Mapping>& mapping, size_t segment, unsigned readers);
// Take a queued job back before any reader started it: true when it was still queued.
bool readAheadTakeBack(const Mapping* mapping, size_t segment);
// Drop every queued job of the mapping (random access, unmap): the segments dropped.
std::vector<size_t> readAheadCancel(const Mapping* mapping);
// The calling reader thread's buffer, at least size bytes (kept while the reader is busy,
// released after a second idle). Throws std::bad_alloc.
uint8_t* readAheadBuffer(size_t size);
// Tests: wait until no job is queued or running (false after timeoutMs).
bool readAheadWaitIdle(unsigned timeoutMs);

}  // namespace ummap
