// Thread-specific data: two initial-exec TLS slots (see swalloc_platform.h),
// the thread's tcache pointer and a state byte, plus a pthread key whose
// destructor returns the cache (or, for a thread whose caching is off, its
// UncachedThread record) to its arena when the thread exits.

import CSwallocPlatform

enum TsdState: UInt8 {
  case uninitialized = 0
  case nominal = 1
  /// The tcache is being created; allocations made meanwhile (e.g. by
  /// pthread_setspecific) bypass the cache.
  case initializing = 2
  /// The thread's cache (or UncachedThread record) was torn down at
  /// thread exit; later calls go straight to arena 0.
  case tornDown = 3
  /// Caching is off: `tcache:false`, junk or zero, or
  /// thread.tcache.enabled false (an UncachedThread record binds the
  /// thread to an arena).
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
  return tcacheOwning(bins: bins)
}

/// The tcache whose stacks start at `bins` (a real cache's, not the empty
/// one's: the callers checked its owner word).
@inline(__always)
func tcacheOwning(bins: UnsafeMutableRawPointer) -> UnsafeMutablePointer<Tcache> {
  (bins - tcacheBinsOffset).assumingMemoryBound(to: Tcache.self)
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
    if let value { tsdThreadExit(value) }
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

/// A thread whose caching is off (tcache:false, junk, zero, or
/// thread.tcache.enabled false): its arena, bound and released as a
/// cache's is, and what that arena's locks cost it. Kept in base memory
/// where the thread's pthread key points (the key's destructor releases
/// it; no TLS of its own: the library's initial-exec TLS is kept small,
/// swalloc_platform.h), recycled through uncachedRecycle.
///
/// Why: such threads used to share arena 0 with no way out, every
/// allocation and free of every one of them taking its locks. bench
/// mixed-threads with tcache:false: 1.24 s on one thread, 2.66 s on two
/// (jemalloc, whose threads keep their arenas without a cache: 1.18 and
/// 0.59).
struct UncachedThread {
  /// First: the word recyclePush links recycled records through.
  var arena: UnsafeMutablePointer<Arena>
  var spread: ArenaSpread
  /// Allocations since the binding: every tcacheIdleCheckEvery-th looks at
  /// the clock and judges the spread window.
  var events: UInt32 = 0
}

/// An UncachedThread record's size in base memory: a cache line.
let uncachedRecordBytes: UInt = 64

/// Recycled UncachedThread records. Guarded by tcacheRecycleLock.
nonisolated(unsafe) var uncachedRecycle = RecycleList()

/// The calling thread's UncachedThread record, nil when it has none.
@inline(__always)
func currentUncached() -> UnsafeMutablePointer<UncachedThread>? {
  if swalloc_tls_state() != TsdState.disabled.rawValue { return nil }
  return pthread_getspecific(config.tsdKey)?.assumingMemoryBound(to: UncachedThread.self)
}

/// The calling thread's UncachedThread record, made at its first call
/// while its caching is off (uncachedBind); nil for a thread whose caching
/// is on, whose cache is being built or was torn down at its exit (a
/// binding made then could not be released), or when memory is exhausted.
@inline(__always)
func uncachedRecord() -> UnsafeMutablePointer<UncachedThread>? {
  if swalloc_tls_state() != TsdState.disabled.rawValue { return nil }
  return currentUncached() ?? uncachedBind()
}

/// The arena of a thread that has no tcache: its record's, which may move
/// when its locks cost it time (the tcache's rule: ArenaSpread), else
/// arena 0.
@inline(never)
func uncachedArena() -> UnsafeMutablePointer<Arena> {
  if let u = uncachedRecord() {
    u.pointee.events &+= 1
    if u.pointee.events % tcacheIdleCheckEvery == 0 {
      let now = UInt32(truncatingIfNeeded: monotonicMs())
      if u.pointee.spread.judge(now: now), let target = arenaSpreadTarget(from: u.pointee.arena, now: now) {
        u.pointee.arena = target
      }
    }
    return u.pointee.arena
  }
  return arenas[0].unsafelyUnwrapped
}

/// Binds the calling thread, whose caching is off, to an arena
/// (arenaChoose) and keeps its record under its pthread key. nil when
/// memory is exhausted (the caller uses arena 0).
func uncachedBind() -> UnsafeMutablePointer<UncachedThread>? {
  var raw = recyclePop(&uncachedRecycle, &tcacheRecycleLock)
  // A cache line each: the record is written at every allocation, and two
  // threads' records on one line cost both (bench mixed-threads with
  // tcache:false on two threads: 3.3 s of CPU time with 32-byte records
  // side by side).
  if raw == nil { raw = baseAlloc(uncachedRecordBytes, alignment: uncachedRecordBytes) }
  guard let raw, let arena = arenaChoose() else {
    if let raw { recyclePush(&uncachedRecycle, &tcacheRecycleLock, raw) }
    return nil
  }
  invariant(UInt(MemoryLayout<UncachedThread>.stride) <= uncachedRecordBytes, "UncachedThread fits its record")
  let u = raw.bindMemory(to: UncachedThread.self, capacity: 1)
  u.initialize(to: UncachedThread(arena: arena, spread: ArenaSpread(now: UInt32(truncatingIfNeeded: monotonicMs()))))
  // May allocate (glibc's second-level key storage, for a key past the
  // first 32): the state sends that allocation to arena 0 instead of into
  // a second binding (and a third: the key would not hold either yet).
  swalloc_tls_set_state(TsdState.initializing.rawValue)
  let stored = pthread_setspecific(config.tsdKey, UnsafeRawPointer(u)) == 0
  swalloc_tls_set_state(TsdState.disabled.rawValue)
  if !stored {
    arenaRelease(arena)
    recyclePush(&uncachedRecycle, &tcacheRecycleLock, raw)
    return nil
  }
  return u
}

/// Releases the calling thread's UncachedThread record and its arena, if
/// it has them (its cache is about to be built: thread.tcache.enabled).
func uncachedUnbind() {
  guard let u = currentUncached() else { return }
  _ = pthread_setspecific(config.tsdKey, nil)
  uncachedRelease(u)
}

private func uncachedRelease(_ u: UnsafeMutablePointer<UncachedThread>) {
  arenaRelease(u.pointee.arena)
  recyclePush(&uncachedRecycle, &tcacheRecycleLock, UnsafeMutableRawPointer(u))
}

/// A free by a thread whose caching is off binds it too (if its first
/// call is a free): its pthread key's destructor is what passes the
/// thread's pending allocated bytes on (statsThreadExit).
@inline(__always)
func uncachedNoteFree() {
  _ = uncachedRecord()
}

/// The pthread key's destructor, with the key's value (glibc clears the
/// key before it calls this): the thread's cache or UncachedThread record.
/// Calls the thread makes afterwards (other destructors) go to arena 0.
func tsdThreadExit(_ value: UnsafeMutableRawPointer) {
  if let t = currentTcache() {
    setCurrentTcache(nil)
    swalloc_tls_set_state(TsdState.tornDown.rawValue)
    tcacheDestroy(t)
  } else if swalloc_tls_state() == TsdState.disabled.rawValue {
    swalloc_tls_set_state(TsdState.tornDown.rawValue)
    uncachedRelease(value.assumingMemoryBound(to: UncachedThread.self))
  }
  statsThreadExit()
}
