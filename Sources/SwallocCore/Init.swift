// Boot (malloc_init): runs once, from the library constructor or from the
// first allocation, whichever comes first; other threads wait on the lock.
// Nothing here calls malloc, so a first call from the dynamic loader or
// dlsym is safe.

import Synchronization

import CSwallocPlatform

var bootState: UInt32 = 0     // 0: not booted, 1: booted
var bootLock = Mutex()

@inline(__always)
func isBooted() -> Bool {
  atomicU32(&bootState).pointee.load(ordering: .acquiring) == 1
}

@inline(__always)
func ensureBooted() -> Bool {
  if isBooted() { return true }
  return bootSlow()
}

@inline(never)
func bootSlow() -> Bool {
  mutexLock(&bootLock)
  defer { mutexUnlock(&bootLock) }
  if atomicU32(&bootState).pointee.load(ordering: .acquiring) == 1 { return true }
  if !bootSteps() {
    // Out of memory while booting: leave the state "not booted" so a later
    // call retries once memory is available again.
    return false
  }
  atomicU32(&bootState).pointee.store(1, ordering: .releasing)
  return true
}

private func bootSteps() -> Bool {
  // Page size from the auxiliary vector (sysconf may not be ready this early).
  let auxPage = UInt(getauxval(UInt(AT_PAGESZ)))
  pageSize = auxPage >= 4096 && auxPage & (auxPage &- 1) == 0 ? auxPage : 4096
  pageShift = UInt(pageSize.trailingZeroBitCount)
  pageMask = pageSize &- 1
  // 16 random bytes the kernel gives every process: the secret of the
  // remote-free links (Bin.swift). Never 0 in practice; a missing vector
  // leaves address-dependent encoding only.
  if let random = UnsafeRawPointer(bitPattern: UInt(getauxval(UInt(AT_RANDOM)))) {
    remoteLinkSecret = random.loadUnaligned(fromByteOffset: 8, as: UInt.self)
  }
  optionsBoot()
  chunkGeometryBoot()
  guard let tables = baseAlloc(sizeClassTablesBytes() &+ UInt(classCount &* 4), alignment: 64) else { return false }
  sizeClassesBoot(memory: tables)
  extentRecordBoot()
  // prof:true caches only the classes the lookup table covers (their fast
  // paths are routed through the countdown; see Prof.swift).
  tcacheBoot(maxBytes: optProf ? min(optTcacheMax, lookupMaxSize) : optTcacheMax, memory: tables + Int(sizeClassTablesBytes()))
  if !pageMapBoot() { return false }
  let cpus = UInt(swalloc_cpus_available())
  arenaCount = Int(optArenaCount != 0 ? optArenaCount : min(cpus &* 4, 1024))
  autoArenaCount = arenaCount
  arenasDirtyDecayMs = optDirtyDecayMs
  arenasMuzzyDecayMs = optMuzzyDecayMs
  // Room for arenas.create up to jemalloc's limit: base memory is mapped
  // lazily, so the untouched part of the table costs no resident pages.
  guard let table = baseAlloc(UInt(arenaTableCapacity &* 16), alignment: 64) else { return false }
  arenas = table.bindMemory(to: UnsafeMutablePointer<Arena>?.self, capacity: arenaTableCapacity)
  arenaThreadCounts = (table + arenaTableCapacity &* 8).bindMemory(to: Int.self, capacity: arenaTableCapacity)
  mutexLock(&arenasLock)
  let first = arenaCreate(0)
  mutexUnlock(&arenasLock)
  if first == nil { return false }
  largeFreeChecked = optSecure
  profBoot()
  return tsdBoot()
}
