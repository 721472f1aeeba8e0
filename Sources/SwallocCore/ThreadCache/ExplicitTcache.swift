// Explicit thread caches: jemalloc's tcache.create / tcache.flush /
// tcache.destroy and the MALLOCX_TCACHE(tc) flag. An explicit cache is a
// Tcache block like a thread's, bound to an arena, but owned by no thread:
// the program names it by index in mallocx, rallocx, dallocx and sdallocx,
// and it must not use one cache from two threads at once (jemalloc's rule:
// nothing here locks a cache's stacks). Its blocks count in the
// thread.allocated / thread.deallocated of the thread that makes the call.
//
// Why provide them: a program written for jemalloc that asks for one and
// is refused falls back to MALLOCX_TCACHE_NONE (RocksDB's allocators do),
// where every call takes an arena lock; it gets cache hits instead.

import CSwallocPlatform

/// Caches MALLOCX_TCACHE can name: its 12-bit field holds the index + 2
/// (0 is the thread's own cache, 1 MALLOCX_TCACHE_NONE).
let explicitTcacheCapacity = 4094

/// The caches by index, nil where none is (base memory, made at the first
/// tcache.create). Slots change under explicitTcachesLock; the allocation
/// paths read them without it, as the program may not destroy a cache
/// while another thread uses it.
nonisolated(unsafe) var explicitTcaches: UnsafeMutablePointer<UnsafeMutablePointer<Tcache>?>? = nil
nonisolated(unsafe) var explicitTcachesLock = Mutex()

/// tcache.create: a new cache bound to `arena`, and its index; nil when
/// every index is taken or no memory is left.
func explicitTcacheCreate(arena: UnsafeMutablePointer<Arena>) -> Int? {
  withLock(&explicitTcachesLock) { () -> Int? in
    if explicitTcaches == nil {
      let bytes = UInt(explicitTcacheCapacity &* MemoryLayout<UnsafeMutablePointer<Tcache>?>.stride)
      guard let raw = baseAlloc(bytes, alignment: 64) else { return nil }
      explicitTcaches = raw.bindMemory(to: UnsafeMutablePointer<Tcache>?.self, capacity: explicitTcacheCapacity)
    }
    let table = explicitTcaches.unsafelyUnwrapped
    // The lowest free index: jemalloc reuses destroyed ones as well.
    var index = 0
    while index < explicitTcacheCapacity && table[index] != nil { index &+= 1 }
    if index == explicitTcacheCapacity { return nil }
    guard let t = tcacheCreate(arena: arena) else { return nil }
    // Its arena stays the one given: no contention move (arenaSpreadCheck)
    // rebinds a cache that no thread's arena binding counts.
    t.pointee.spread.pinned = true
    table[index] = t
    return index
  }
}

/// The cache at `index`, nil when there is none.
@inline(__always)
func explicitTcache(_ index: Int) -> UnsafeMutablePointer<Tcache>? {
  guard let table = explicitTcaches, index >= 0 && index < explicitTcacheCapacity else { return nil }
  return table[index]
}

/// tcache.flush: false when `index` names no cache.
func explicitTcacheFlush(_ index: Int) -> Bool {
  withLock(&explicitTcachesLock) {
    guard let t = explicitTcache(index) else { return false }
    tcacheEmpty(t)
    return true
  }
}

/// tcache.destroy: flushed, its block kept for the next cache (a thread's
/// or an explicit one), its index free; false when there is none.
func explicitTcacheDestroy(_ index: Int) -> Bool {
  withLock(&explicitTcachesLock) {
    guard let t = explicitTcache(index) else { return false }
    tcacheEmpty(t)
    explicitTcaches.unsafelyUnwrapped[index] = nil
    recyclePush(&tcacheRecycle, &tcacheRecycleLock, UnsafeMutableRawPointer(t))
    return true
  }
}

/// Before arena.<i>.reset / destroy: every explicit cache returns its
/// blocks (the arena's among them, which would otherwise be handed out
/// after their chunks are gone), and one bound to arena `a` is bound to
/// `replacement` when the arena is being destroyed.
func explicitTcachesRelease(_ a: UnsafeMutablePointer<Arena>, replacement: UnsafeMutablePointer<Arena>?) {
  withLock(&explicitTcachesLock) {
    guard let table = explicitTcaches else { return }
    var index = 0
    while index < explicitTcacheCapacity {
      if let t = table[index] {
        tcacheEmpty(t)
        if let replacement, t.pointee.arena == a { tcacheSetArena(t, replacement) }
      }
      index &+= 1
    }
  }
}
