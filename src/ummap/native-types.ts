// Typed surface of the ummap half of the native addon (native/uffd/binding.cc).

/** Opaque native handles (napi externals). */
export type NativeMappingHandle = { readonly __brand: 'ummap.mapping' };
export type NativePolicyHandle = { readonly __brand: 'ummap.policy' };

export type DirtyTrackingMode = 'wp-async' | 'wp-fault';

export interface NativeUmapSupport {
  available: boolean;
  /** UFFD_FEATURE_WP_ASYNC + PAGEMAP_SCAN usable. */
  wpAsync: boolean;
  /** Kernel-side accesses (read(2) into the mapping) are served (not UFFD_USER_MODE_ONLY). */
  kernelFaults: boolean;
  openedWith: string;
  error: string;
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

export interface NativeMappingStats {
  faults: number;
  writeFaults: number;
  segmentsLoaded: number;
  readAheadSegments: number;
  bytesRead: number;
  bytesWritten: number;
  writeBacks: number;
  evictions: number;
  driverSyncs: number;
  ioErrors: number;
  residentBytes: number;
}

export interface NativeUmapBinding {
  umapSupport(): NativeUmapSupport;
  umapCreate(spec: NativeMappingSpec): { handle: NativeMappingHandle; buffer: ArrayBuffer; tracking: DirtyTrackingMode };
  umapFlush(handle: NativeMappingHandle, offset: number, size: number, syncDriver: boolean, evict: boolean): void;
  umapUnmap(handle: NativeMappingHandle, buffer: ArrayBuffer, sync: boolean): void;
  umapSwitch(handle: NativeMappingHandle, scheme: string, params: Record<string, string>, copyFirst: boolean, allowExist: boolean): void;
  umapStats(handle: NativeMappingHandle): NativeMappingStats;
  umapPolicyCreate(order: 'fifo' | 'lifo', limit: number, window: number, name?: string): NativePolicyHandle;
  umapPolicyStats(policy: NativePolicyHandle): { used: number; limit: number };
  umapDropMemStore(name: string): boolean;
  /** Bench baselines. */
  umapBenchBulkCopy(totalBytes: number, chunkBytes: number): number;
  umapBenchMapFile(path: string, size: number): ArrayBuffer;
  umapBenchUnmapFile(buffer: ArrayBuffer): void;
}
