// Boot (malloc_init): runs once, from the library constructor or from the
// first allocation, whichever comes first; other threads wait on the lock.
// Nothing here calls malloc, so a first call from the dynamic loader or
// dlsym is safe.

import Synchronization

import CSwallocPlatform

/// Serializes the boot: guards every write to `config` (Config.swift) and
/// the option parser's state.
nonisolated(unsafe) var bootLock = Mutex()

@inline(__always)
func ensureBooted() -> Bool {
  if isBooted() { return true }
  return bootSlow()
}

@inline(never)
func bootSlow() -> Bool {
  mutexLock(&bootLock)
  defer { mutexUnlock(&bootLock) }
  if bootState.load(ordering: .acquiring) == 1 { return true }
  if !bootSteps() {
    // Out of memory while booting: leave the state "not booted" so a later
    // call retries once memory is available again.
    return false
  }
  bootState.store(1, ordering: .releasing)
  return true
}

private func bootSteps() -> Bool {
  // The page size from the auxiliary vector (sysconf may not be ready this
  // early) must be the 4 KiB the allocator is built for.
  let auxPage = UInt(getauxval(UInt(AT_PAGESZ)))
  if auxPage != 0 && auxPage != pageSize { fatal("unsupported page size (not 4096)") }
  if !emptyTcacheCoversBins() { fatal("the thread cache layout does not match the fast paths") }
  // 16 random bytes the kernel gives every process: the secret of the
  // remote-free links (Bin.swift). Never 0 in practice; a missing vector
  // leaves address-dependent encoding only.
  if let random = UnsafeRawPointer(bitPattern: UInt(getauxval(UInt(AT_RANDOM)))) {
    config.remoteLinkSecret = random.loadUnaligned(fromByteOffset: 8, as: UInt.self)
  }
  clockBoot()
  optionsBoot()
  thpBoot()
  backgroundBoot()
  chunkGeometryBoot()
  // The radix root first: it is page-aligned, and the fresh base block's
  // first page is; arena 0 and the arena table then share the next pages
  // instead of leaving a partial page in front of the root (small-program
  // footprint: memtruth.sh first_malloc).
  if !pageMapBoot() { return false }
  sizeClassesBoot()
  extentRecordBoot()
  // prof:true caches the same classes: every cached class's counted pops
  // run its own sampling countdown (Prof.swift).
  tcacheBoot(maxBytes: config.opt.tcacheMax)
  pageRunsBoot(uncachedFirst: config.tcacheClassCount)
  let cpus = UInt(swalloc_cpus_available())
  // One automatic arena per CPU in the affinity mask, not jemalloc's four:
  // threads share arenas until their locks cost them time (the spread
  // rule, Arena.swift), so the extra arenas only ever served more threads
  // than CPUs, and each arena's free pages serve only its own threads, so
  // every arena in use adds its own peak. 16 threads on the 2 cores (`wl
  // W 16 S`, medians of 7, time / peak RSS, 8 arenas -> 2): server-churn
  // 0.157 -> 0.144 s, 198 -> 164 MiB (scale 4: 373-440 -> 201-209 MiB,
  // glibc 149-162); mixed-threads 32.5 -> 30.6 MiB; larson, xmalloc
  // within noise; with both cores busy with other processes the same
  // (docs/ARCHITECTURE.md, Arenas). With as many threads as CPUs or fewer
  // nothing changes: each can still have an arena of its own.
  arenaCount = Int(config.opt.narenas != 0 ? config.opt.narenas : min(max(cpus, 1), 1024))
  config.autoArenaCount = arenaCount
  arenasDirtyDecayMs = config.opt.dirtyDecayMs
  arenasMuzzyDecayMs = config.opt.muzzyDecayMs
  config.arenaTableCapacity = min(arenaCount &+ createdArenaLimit, 4095)
  guard let table = baseAlloc(UInt(config.arenaTableCapacity &* MemoryLayout<ArenaSlot>.stride), alignment: 64) else {
    return false
  }
  config.arenaTable = UnsafeMutableRawPointer(table.bindMemory(to: ArenaSlot.self, capacity: config.arenaTableCapacity))
  mutexLock(&arenasLock)
  let first = arenaCreate(0)
  mutexUnlock(&arenasLock)
  if first == nil { return false }
  profBoot()
  return tsdBoot()
}

// MARK: Hooks called by the C layer (not exported from the library)

@_cdecl("swalloc_internal_boot")
public func swallocInternalBoot() { _ = ensureBooted() }

@_cdecl("swalloc_internal_constructor_done")
public func swallocInternalConstructorDone() {
  markConstructorFinished()
  profPrime()
}

@_cdecl("swalloc_internal_exit")
public func swallocInternalExit() {
  if isBooted() && config.opt.statsPrintAtExit { statsPrint() }
  if isBooted() { profAtExit() }
}

@_cdecl("swalloc_internal_prefork")
public func swallocInternalPrefork() { forkPrepare() }

@_cdecl("swalloc_internal_postfork_parent")
public func swallocInternalPostforkParent() { forkParent() }

@_cdecl("swalloc_internal_postfork_child")
public func swallocInternalPostforkChild() { forkChild() }
