// The filler: gets a range of segments from the driver (or zeros) and installs it in the
// mapping with one UFFDIO_COPY, which also wakes the faulting threads. Runs on the fault
// handler thread only.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ummap {

class StorageDriver;
class UffdContext;

struct FillRequest {
  uint8_t* destination;    // page aligned, inside a registered mapping
  size_t mappedLength;     // bytes to install (whole pages)
  uint64_t storageOffset;  // where the range starts in the store
  size_t storageLength;    // bytes that exist in the mapping (<= mappedLength); the rest is zeros
  bool zeros;              // noFirstRead: install zeros without reading
  bool writeProtect;       // install write-protected (dirty tracking)
};

struct FillResult {
  size_t bytesRead = 0;
  int error = 0;            // driver read error or copy error
  bool readFailed = false;  // the driver's read failed: nothing was installed (retry later)
};

FillResult fillRange(StorageDriver& driver, const UffdContext& ctx, const FillRequest& request);

}  // namespace ummap
