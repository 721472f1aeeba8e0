// A futex-based mutex (0 = free, 1 = locked, 2 = locked with waiters).
// It lives inline in arena/bin metadata, which sits in raw base memory, so the
// atomic operations act on the word through a pointer.

import CSwallocPlatform
import Synchronization

struct Mutex {
  var word: UInt32 = 0
}

// For words inside raw allocator memory (lock words, a bin's remote-free
// head, page-map root slots): an atomic view through a pointer into that
// memory, which stays put. Globals used atomically are `let` Atomic values
// instead (static storage, one mov per load in the Embedded build): taking
// `&global` for a pointer that outlives the call is not something Swift
// promises to keep valid.
@inline(__always)
func atomicU32(_ p: UnsafeMutablePointer<UInt32>) -> UnsafeMutablePointer<Atomic<UInt32>> {
  UnsafeMutableRawPointer(p).assumingMemoryBound(to: Atomic<UInt32>.self)
}

@inline(__always)
func atomicUInt(_ p: UnsafeMutablePointer<UInt>) -> UnsafeMutablePointer<Atomic<UInt>> {
  UnsafeMutableRawPointer(p).assumingMemoryBound(to: Atomic<UInt>.self)
}

@inline(__always)
func mutexLock(_ m: UnsafeMutablePointer<Mutex>) {
  let w = atomicU32(&m.pointee.word)
  if w.pointee.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged { return }
  mutexLockContended(m)
}

@inline(never)
func mutexLockContended(_ m: UnsafeMutablePointer<Mutex>) {
  let w = atomicU32(&m.pointee.word)
  // Spin briefly: critical sections are short, a sleep costs two syscalls.
  var spins = 0
  while spins < 100 {
    if w.pointee.load(ordering: .relaxed) == 0,
       w.pointee.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged {
      return
    }
    spins &+= 1
  }
  while w.pointee.exchange(2, ordering: .acquiring) != 0 {
    swalloc_futex_wait(&m.pointee.word, 2)
  }
}

@inline(__always)
func mutexUnlock(_ m: UnsafeMutablePointer<Mutex>) {
  let w = atomicU32(&m.pointee.word)
  invariant(w.pointee.load(ordering: .relaxed) != 0, "a lock released that was not held")
  if w.pointee.exchange(0, ordering: .releasing) == 2 {
    swalloc_futex_wake_one(&m.pointee.word)
  }
}

/// Runs `body` with `m` held: the core's one lock idiom. Always inlined and
/// the closure non-escaping, so no context is allocated or retained (Embedded
/// Swift: closures are never stored) and the code is the explicit pair's.
/// Locks taken in one function and released in another (the fork handlers)
/// use mutexLock/mutexUnlock directly.
@inline(__always)
func withLock<T>(_ m: UnsafeMutablePointer<Mutex>, _ body: () -> T) -> T {
  mutexLock(m)
  defer { mutexUnlock(m) }
  return body()
}

/// After fork, the child is single-threaded: every lock it inherited is free.
@inline(__always)
func mutexResetInChild(_ m: UnsafeMutablePointer<Mutex>) {
  m.pointee.word = 0
}
