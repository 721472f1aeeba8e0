// mallctl handlers that act on the allocator (purge, reset, decay times,
// thread.arena, thread.tcache.enabled), named by CtlTable.swift.

import CSwallocPlatform

// MARK: Handlers that act

/// Drains arena `index`'s remote-free stacks and purges all its dirty and
/// muzzy pages; returns the pages purged. The next stats.resident read
/// measures (residentForget): a program that asked for a purge looks at
/// what it gave back.
@discardableResult
func purgeArena(_ index: Int) -> UInt {
  residentForget()
  guard let a = withLock(&arenasLock, { arenas[index] }) else { return 0 }
  var c = 0
  while c < config.smallClassCount {
    let bin = a.pointee.bins + c
    withLock(&bin.pointee.lock) {
      binDrainRemoteLocked(a, bin, sizeClass: c)
      binReleaseSpareLocked(a, bin)
    }
    c &+= 1
  }
  return withLock(&a.pointee.extentLock) { arenaPurgeAll(a) }
}

/// Purges every arena; returns whether anything was purged (malloc_trim).
func purgeAllArenas() -> Bool {
  var purged: UInt = 0
  var i = 0
  while i < arenaCount { purged &+= purgeArena(i); i &+= 1 }
  return purged != 0
}

/// arena.<i>.reset / destroy: only for arenas made by arenas.create
/// (EFAULT otherwise, as jemalloc). Destroying also needs that no thread is
/// bound to the arena (EFAULT); the index is then free for arenas.create.
func arenaResetCtl(_ c: CtlCall, destroy: Bool) -> Int32 {
  if c.readsOrWrites { return EPERM }
  if c.i < config.autoArenaCount || c.i >= arenaCount { return EFAULT }
  let (arena, bound) = withLock(&arenasLock) { (arenas[c.i], arenaThreadCounts[c.i]) }
  guard let a = arena, !a.pointee.destroyed else { return EFAULT }
  if destroy && bound != 0 { return EFAULT }
  flushThreadCache()
  explicitTcachesRelease(a, replacement: destroy ? withLock(&arenasLock) { arenas[0] } : nil)
  arenaReset(a)
  if destroy {
    withLock(&arenasLock) { a.pointee.destroyed = true }
  }
  return 0
}

/// arena.<i>.dirty_decay_ms / muzzy_decay_ms (ssize_t): the arena's decay
/// time; a write applies from the arena's next decay step.
func arenaDecayTimeCtl(_ c: CtlCall, dirty: Bool) -> Int32 {
  // (arenaGetOrCreate: nil past the arena count, which takes the all and
  // destroyed indices: EFAULT, as jemalloc's.)
  guard let a = arenaGetOrCreate(c.i) else { return EFAULT }
  let current = withLock(&a.pointee.extentLock) { dirty ? a.pointee.dirtyDecayMs : a.pointee.muzzyDecayMs }
  return c.readWrite(current) { ms in
    if ms < -1 { return EFAULT }   // (jemalloc's answer to a time it cannot take)
    withLock(&a.pointee.extentLock) {
      if dirty { a.pointee.dirtyDecayMs = ms } else { a.pointee.muzzyDecayMs = ms }
      // The slab pool and the large-run cache are not used with 0: their
      // runs join the free extents, for the next step to purge with the rest.
      if dirty && ms == 0 { runCachesEmpty(a) }
      // The next tick is a full one, under the new time.
      a.pointee.decayTickMs = 0
    }
    return 0
  }
}

/// thread.arena: reads the calling thread's arena index (unsigned); writing
/// an index binds the thread to that arena (created if needed) for its next
/// refills and large allocations (without a cache: its next allocations);
/// blocks it already holds keep their arena. An index past
/// arenas.narenas: EFAULT, as jemalloc; a thread being torn down at its
/// exit, on arena 0 with no binding, cannot move: EAGAIN.
func threadArenaCtl(_ c: CtlCall) -> Int32 {
  let t = tsdFetchTcache()
  let u = t == nil ? uncachedRecord() : nil
  let current = t?.pointee.arena ?? u?.pointee.arena
  return c.readWrite(current.map { UInt32($0.pointee.index) } ?? 0) { new in
    let index = Int(new)
    if index >= arenaCount { return EFAULT }
    guard let current else { return EAGAIN }
    guard let target = arenaGetOrCreate(index) else { return EAGAIN }
    if target != current { arenaMoveThread(from: current, to: target) }
    // Chosen by the program: the spread check leaves the thread there.
    if let t {
      tcacheSetArena(t, target)
      t.pointee.spread.pinned = true
    } else if let u {
      u.pointee.arena = target
      u.pointee.spread.pinned = true
    }
    return 0
  }
}

/// Whether the calling thread has a cache, or will make one at its next
/// allocation (thread.tcache.enabled reads it; without it
/// thread.tcache.flush is EFAULT, as jemalloc's).
func threadTcacheAvailable() -> Bool {
  currentTcache() != nil || swalloc_tls_state() == TsdState.uninitialized.rawValue && config.opt.tcache && !config.opt.fillsMemory
}

/// thread.tcache.enabled (bool): reads whether the calling thread caches;
/// writing false returns its cached blocks and its cache, writing true lets
/// its next allocation build a new one (with tcache:false, junk or zero,
/// caching stays off and writing true changes nothing).
func threadTcacheEnabledCtl(_ c: CtlCall) -> Int32 {
  c.readWriteBool(threadTcacheAvailable()) { enable in
    if enable {
      if swalloc_tls_state() == TsdState.disabled.rawValue && config.opt.tcache && !config.opt.fillsMemory {
        uncachedUnbind()
        swalloc_tls_set_state(TsdState.uninitialized.rawValue)
      }
    } else if let t = currentTcache() {
      setCurrentTcache(nil)
      swalloc_tls_set_state(TsdState.disabled.rawValue)
      _ = pthread_setspecific(config.tsdKey, nil)
      threadCountsFold(t)
      tcacheDestroy(t)
    } else if swalloc_tls_state() == TsdState.uninitialized.rawValue {
      swalloc_tls_set_state(TsdState.disabled.rawValue)
    }
    return 0
  }
}

/// thread.idle: the calling thread's cached blocks go back to their arenas
/// (flushThreadCache), and its arena takes a decay step (arena.<i>.decay):
/// its slab pool and large-run cache go back to the free pages if no
/// allocation took from them since the last look, and decay purges what its
/// curve allows by now. Nothing more: the arena's other threads may still be
/// busy (jemalloc purges the whole arena only where arenas outnumber the
/// CPUs twice, i.e. are as good as per thread). A thread that has no cache
/// and no arena yet makes neither.
func threadIdle() {
  flushThreadCache()
  if let a = currentTcache()?.pointee.arena ?? currentUncached()?.pointee.arena {
    decayArena(Int(a.pointee.index))
  }
}

func flushThreadCache() {
  guard let t = currentTcache() else { return }
  quarantineDrain(t)
  tcacheEmpty(t)
}

/// tcache.create (unsigned, read-only): a new explicit cache
/// (ExplicitTcache.swift) bound to the calling thread's arena, and its
/// index. As jemalloc: a write is EPERM, a missing or wrong-sized buffer
/// EINVAL (nothing made), no index or memory left EFAULT.
func explicitTcacheCreateCtl(_ c: CtlCall) -> Int32 {
  if c.newp != nil || c.newlen != 0 { return EPERM }
  var made = true
  let rc = c.actionReading(UInt32.self) { () -> UInt32? in
    guard let index = explicitTcacheCreate(arena: threadArena()) else { made = false; return nil }
    return UInt32(truncatingIfNeeded: index)
  }
  return made ? rc : EFAULT
}

/// tcache.flush / tcache.destroy (unsigned, write-only): `body` acts on the
/// cache the written index names; one that names no cache is EFAULT
/// (jemalloc does not check it).
func explicitTcacheIndexCtl(_ c: CtlCall, _ body: (Int) -> Bool) -> Int32 {
  c.writeOnly(UInt32.self) { body(Int($0)) ? 0 : EFAULT }
}
