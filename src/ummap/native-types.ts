// Typed surface of the ummap exports of the native addon (native/addon/mapping_binding.cc,
// policy_binding.cc, test_binding.cc). A failure throws (or rejects with) an Error with .code
// (the errno's name), .errno (negative) and a message; arguments of the wrong type throw a
// TypeError (code ERR_INVALID_ARG_TYPE), out of range a RangeError (ERR_OUT_OF_RANGE).

/** Opaque native handles (napi externals). */
export type NativeMappingHandle = { readonly __brand: 'ummap.mapping' };
export type NativePolicyHandle = { readonly __brand: 'ummap.policy' };

/** How written pages are found: 'wp-async' (PAGEMAP_SCAN, no fault per page) or 'wp-fault' (a write-protect fault per page). */
export type DirtyTrackingMode = 'wp-async' | 'wp-fault';

/** What the kernel offers ({@link ummapSupport}). */
export interface NativeUmapSupport {
  /** userfaultfd can be opened here. */
  available: boolean;
  /** UFFD_FEATURE_WP_ASYNC + PAGEMAP_SCAN usable. */
  wpAsync: boolean;
  /** Kernel-side accesses (read(2) into the mapping) are served (not UFFD_USER_MODE_ONLY). */
  kernelFaults: boolean;
  /** Asynchronous syncs of wp-async mappings move large dirty runs out by mremap instead of copying them (UFFD_FEATURE_EVENT_REMAP). */
  snapshotMoves: boolean;
  /** How userfaultfd was opened ('/dev/userfaultfd', 'syscall', ...). */
  openedWith: string;
  /** Why it is not available ('' when it is). */
  error: string;
  /** The dirty tracking mappings get by default. */
  defaultTracking: DirtyTrackingMode;
}

export interface NativeMappingSpec {
  /** Driver scheme: 'mem' | 'file' | 'dummy' | 'ioc'. */
  scheme: string;
  /** Driver parameters (strings), e.g. {path} for file, {host, port, high, low} for ioc. */
  params: Record<string, string>;
  size: number;
  segmentSize: number;
  storageOffset: number;
  readOnly: boolean;
  noFirstRead: boolean;
  tracking?: DirtyTrackingMode;
  readAheadMax?: number;
  policy?: NativePolicyHandle;
}

/** Counters of a mapping. */
export interface NativeMappingStats {
  /** Page faults served. */
  faults: number;
  /** Write-protect faults (wp-fault tracking). */
  writeFaults: number;
  /** Segments loaded from the driver. */
  segmentsLoaded: number;
  /** Segments loaded by sequential read-ahead. */
  readAheadSegments: number;
  /** Bytes read from the driver. */
  bytesRead: number;
  /** Bytes written back to the driver. */
  bytesWritten: number;
  /** Write-backs (sync, flush, eviction of dirty segments). */
  writeBacks: number;
  /** Segments evicted by the policy. */
  evictions: number;
  /** Durability calls to the driver (server flush, fdatasync). */
  driverSyncs: number;
  /** Driver errors met. */
  ioErrors: number;
  /** Bytes of the mapping currently loaded. */
  residentBytes: number;
  /** Asynchronous write-backs: dirty bytes moved out of the mapping for the write-back (mremap; large runs). */
  snapshotMovedBytes: number;
  /** Asynchronous write-backs: dirty bytes copied for the write-back (small runs, or UMMAP_SNAPSHOT=copy). */
  snapshotCopiedBytes: number;
}

export interface NativeUmapBinding {
  umapSupport(): NativeUmapSupport;
  /** spec.size 0: the stored object's size (from storageOffset on), which `size` gives back. */
  umapCreate(spec: NativeMappingSpec): { handle: NativeMappingHandle; buffer: ArrayBuffer; tracking: DirtyTrackingMode; size: number };
  /** umapCreate with the driver's connection and the mapping's setup on another thread. */
  umapCreateAsync(spec: NativeMappingSpec): Promise<{ handle: NativeMappingHandle; buffer: ArrayBuffer; tracking: DirtyTrackingMode; size: number }>;
  umapFlush(handle: NativeMappingHandle, offset: number, size: number, syncDriver: boolean, evict: boolean): void;
  umapUnmap(handle: NativeMappingHandle, buffer: ArrayBuffer, sync: boolean): void;
  /** Copies the range's dirty pages now, writes them on another thread. */
  umapFlushAsync(handle: NativeMappingHandle, offset: number, size: number, syncDriver: boolean, evict: boolean): Promise<void>;
  /** Detaches buffer now; writes back and unmaps on another thread (the mapping stays open if that fails). */
  umapUnmapAsync(handle: NativeMappingHandle, buffer: ArrayBuffer, sync: boolean): Promise<void>;
  /** A new ArrayBuffer over an open mapping's memory. */
  umapBuffer(handle: NativeMappingHandle): ArrayBuffer;
  umapSwitch(handle: NativeMappingHandle, scheme: string, params: Record<string, string>, copyFirst: boolean, allowExist: boolean): void;
  umapStats(handle: NativeMappingHandle): NativeMappingStats;
  /** The runtime's events since the last call (src/ummap/notices.ts). */
  umapTakeNotices(): { code: string; message: string }[];
  /** In the mapping's turn, a server-side copy of its store to the target (the next checkpoint's). */
  umapStageAsync(handle: NativeMappingHandle, scheme: string, params: Record<string, string>): Promise<void>;
  /** Takes the dirty pages now; the target becomes a copy of the store (staged or copied then),
   *  the mapping moves to it and the pages go there. epoch: the server's volatile epoch they
   *  were acknowledged in (16 hex digits, zeros: durable); bytes: bytes sent. */
  umapCheckpointAsync(handle: NativeMappingHandle, scheme: string, params: Record<string, string>, syncDriver: boolean): Promise<{ epoch: string; bytes: number }>;
  /** Re-point to the target and drop every loaded page without writing it back. */
  umapReloadAsync(handle: NativeMappingHandle, scheme: string, params: Record<string, string>): Promise<void>;
  /** Releases that would write back (collection, environment teardown) drop the dirty pages instead. */
  umapDiscardOnRelease(handle: NativeMappingHandle): void;
  umapPolicyCreate(order: 'fifo' | 'lifo', limit: number, window: number, name?: string): NativePolicyHandle;
  umapPolicyStats(policy: NativePolicyHandle): { used: number; limit: number };
  umapDropMemStore(name: string): boolean;
}

/** The addon's test and bench exports: in test builds only (src/native.ts: testHooks()). */
export interface NativeTestHooks {
  /** Test hooks: pause the next asynchronous write-back after `pieces` pieces (written one at a
   *  time), wait until it is paused (blocks the calling thread; false after timeoutMs), release it. */
  umapTestPauseWriteBack(pieces: number): void;
  umapTestWaitPaused(timeoutMs: number): boolean;
  umapTestReleaseWriteBack(): void;
  /** Test hooks: pause the next read-ahead of `segment` at `phase` (0 before its read, 1 after
   *  it, 2 installed but not accounted), failWith (negative errno) its read; wait until paused;
   *  release; wait until no read-ahead is queued or running (false after timeoutMs). */
  umapTestPauseReadAhead(segment: number, phase: 0 | 1 | 2, failWith?: number): void;
  umapTestWaitReadAheadPaused(timeoutMs: number): boolean;
  umapTestReleaseReadAhead(): void;
  umapTestReadAheadIdle(timeoutMs: number): boolean;
  /** Bench baselines. */
  umapBenchBulkCopy(totalBytes: number, chunkBytes: number): number;
  umapBenchMapFile(path: string, size: number): ArrayBuffer;
  umapBenchUnmapFile(buffer: ArrayBuffer): void;
}
