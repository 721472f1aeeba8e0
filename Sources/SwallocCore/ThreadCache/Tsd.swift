// Thread-specific data: two initial-exec TLS slots (see swalloc_platform.h),
// the thread's tcache pointer and a state byte, plus a pthread key whose
// destructor returns the cache to its arena when the thread exits.

import CSwallocPlatform

enum TsdState: UInt8 {
  case uninitialized = 0
  case nominal = 1
  /// The tcache is being created; allocations made meanwhile (e.g. by
  /// pthread_setspecific) bypass the cache.
  case initializing = 2
  /// The thread's cache was torn down at thread exit; later calls go
  /// straight to arena 0.
  case tornDown = 3
  /// Caching is disabled by the `tcache:false` option.
  case disabled = 4
}

// The pthread key is config.tsdKey (boot-once, tsdBoot).

// The TLS slot holds the address of the tcache's stacks (its TcacheBin
// array, indexed by class code), not of the Tcache record: the fast paths
// index it with no offset, which keeps each to one add for the stack's
// address.

/// The thread's tcache, nil when it has none (see fastPathBins).
@inline(__always)
func currentTcache() -> UnsafeMutablePointer<Tcache>? {
  guard let bins = swalloc_tls_tcache_or_null() else { return nil }
  return (bins - tcacheBinsOffset).assumingMemoryBound(to: Tcache.self)
}

/// Makes `t` the thread's tcache (nil: none).
@inline(__always)
func setCurrentTcache(_ t: UnsafeMutablePointer<Tcache>?) {
  guard let t else { swalloc_tls_set_tcache(nil); return }
  swalloc_tls_set_tcache(UnsafeMutableRawPointer(t) + tcacheBinsOffset)
}

/// For the malloc / free fast paths only: the thread's stacks by class
/// code, or the shared all-zero empty ones (swalloc_platform.h) when it has
/// no cache, which send both fast paths to their slow paths. Saves the nil
/// test on every call; nothing may write through it.
@inline(__always)
func fastPathBins() -> UnsafeMutablePointer<TcacheBin> {
  swalloc_tls_tcache().unsafelyUnwrapped.assumingMemoryBound(to: TcacheBin.self)
}

/// fastPathBins()'s stack at byte offset `offset` (a class code <<
/// tcacheBinShift: sizeBinOffsets, the page map's bin-offset field).
@inline(__always)
func fastPathBin(atOffset offset: Int) -> UnsafeMutablePointer<TcacheBin> {
  (UnsafeMutableRawPointer(fastPathBins()) + offset).assumingMemoryBound(to: TcacheBin.self)
}

/// Boot check: the empty tcache covers every stack a fast path may index,
/// and the byte offsets the fast paths use match the TcacheBin layout.
func emptyTcacheCoversBins() -> Bool {
  tcacheBinsOffset &+ MemoryLayout<TcacheBin>.stride &* tcacheBinCount <= Int(SWALLOC_EMPTY_TCACHE_BYTES)
    && MemoryLayout<Tcache>.size <= tcacheOwnerOffset
    && MemoryLayout<TcacheBin>.stride == 1 << tcacheBinShift
    && pageEntryClassShift &- pageEntryBinOffsetShift == UInt(tcacheBinShift)
}

/// The free fast path's view of the thread's arena: the word just before
/// the stacks (tcacheOwnerOffset), 0 for the empty tcache.
@inline(__always)
func fastPathOwner(_ bins: UnsafeMutablePointer<TcacheBin>) -> UInt {
  UnsafeRawPointer(bins).load(fromByteOffset: tcacheOwnerOffset &- tcacheBinsOffset, as: UInt.self)
}

func tsdBoot() -> Bool {
  var key = pthread_key_t()
  if pthread_key_create(&key, { value in
    if value != nil { tsdThreadExit() }
  }) != 0 { return false }
  config.tsdKey = key
  return true
}

/// The thread's tcache, created on first use; nil when the thread has no
/// cache (being created, torn down, disabled, or out of memory).
@inline(never)
func tsdFetchTcache() -> UnsafeMutablePointer<Tcache>? {
  if let t = currentTcache() { return t }
  // Every caller runs after boot (a slow path that booted, or checked it).
  if !isBooted() { return nil }
  if swalloc_tls_state() != TsdState.uninitialized.rawValue { return nil }
  if !config.opt.tcache || config.opt.fillsMemory {
    swalloc_tls_set_state(TsdState.disabled.rawValue)
    return nil
  }
  swalloc_tls_set_state(TsdState.initializing.rawValue)
  guard let arena = arenaChoose() else {
    swalloc_tls_set_state(TsdState.uninitialized.rawValue)
    return nil
  }
  guard let t = tcacheCreate(arena: arena) else {
    arenaRelease(arena)
    swalloc_tls_set_state(TsdState.uninitialized.rawValue)
    return nil
  }
  setCurrentTcache(t)
  // May allocate (glibc's second-level key storage); the state routes that
  // allocation around the cache being built.
  _ = pthread_setspecific(config.tsdKey, UnsafeRawPointer(t))
  swalloc_tls_set_state(TsdState.nominal.rawValue)
  return t
}

/// The arena used by a thread that has no tcache.
@inline(__always)
func fallbackArena() -> UnsafeMutablePointer<Arena> {
  arenas[0].unsafelyUnwrapped
}

func tsdThreadExit() {
  guard let t = currentTcache() else { return }
  setCurrentTcache(nil)
  swalloc_tls_set_state(TsdState.tornDown.rawValue)
  tcacheDestroy(t)
}
