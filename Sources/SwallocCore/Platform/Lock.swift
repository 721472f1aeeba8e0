// A futex-based mutex (0 = free, 1 = locked, 2 = locked with waiters).
// It lives inline in arena/bin metadata, which sits in raw base memory, so the
// atomic operations act on the word through a pointer.
//
// Each lock counts its acquisitions, those that found it held and got it
// while spinning, and those that slept in the kernel (jemalloc's mutex
// statistics num_ops, num_spin_acq, num_wait): the statistics show which
// locks the program's threads meet on, and that no global lock sits on a
// path a workload repeats. The counters are plain fields written by the
// holder right after it acquires, so they cost one increment of a line the
// acquisition already owns, and are read under the lock.

import CSwallocPlatform
import Synchronization

struct Mutex {
  var word: UInt32 = 0
  /// Acquisitions that spun and got the lock without sleeping.
  var spinAcquired: UInt32 = 0
  /// All acquisitions.
  var operations: UInt64 = 0
  /// Acquisitions that slept on the futex at least once.
  var waited: UInt64 = 0
  /// The thread that acquired it last (swalloc_tls_lock_owner_id): an
  /// acquisition by another thread moved the lock's line between cores.
  var holder: UInt = 0
}

/// The holder's counter updates go through raw addresses, not through
/// `m.pointee`: ThreadSanitizer records a Swift modify access of a field
/// through the struct as a write of the struct's first bytes, the lock word
/// other threads are compare-exchanging (the same reason as Arena's field
/// order, Arena.swift).
@inline(__always)
private func countAcquisition(_ m: UnsafeMutablePointer<Mutex>, spun: Bool, slept: Bool) {
  let raw = UnsafeMutableRawPointer(m)
  // Taken over from another thread: its line came from another core
  // (the thread's lock weight, ArenaSpread).
  let holder = (raw + 24).assumingMemoryBound(to: UInt.self)
  let me = swalloc_tls_lock_owner_id()
  if holder.pointee != me {
    holder.pointee = me
    swalloc_tls_add_lock_weight(lockWeightHandoff)
  }
  (raw + 8).assumingMemoryBound(to: UInt64.self).pointee &+= 1
  if spun { (raw + 4).assumingMemoryBound(to: UInt32.self).pointee &+= 1 }
  if slept { (raw + 16).assumingMemoryBound(to: UInt64.self).pointee &+= 1 }
}

/// A lock's counters, read under it (lockCounters).
struct LockCounters {
  var operations: UInt64 = 0
  var spinAcquired: UInt64 = 0
  var waited: UInt64 = 0

  mutating func add(_ o: LockCounters) {
    operations &+= o.operations
    spinAcquired &+= o.spinAcquired
    waited &+= o.waited
  }
}

/// `m`'s counters; takes and releases `m`, leaving that acquisition out.
func lockCounters(_ m: UnsafeMutablePointer<Mutex>) -> LockCounters {
  withLock(m) { lockCountersLocked(m) }
}

/// `m`'s counters, the caller holding `m` (its own acquisition left out).
@inline(__always)
func lockCountersLocked(_ m: UnsafeMutablePointer<Mutex>) -> LockCounters {
  let raw = UnsafeMutableRawPointer(m)
  return LockCounters(operations: (raw + 8).load(as: UInt64.self) &- 1,
                      spinAcquired: UInt64((raw + 4).load(as: UInt32.self)),
                      waited: (raw + 16).load(as: UInt64.self))
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
  if swalloc_single_threaded() {
    mutexLockAlone(m)
    return
  }
  if w.pointee.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged {
    countAcquisition(m, spun: false, slept: false)
    return
  }
  mutexLockContended(m)
}

/// mutexLock in a process that has only ever had one thread
/// (swalloc_single_threaded): no other thread can hold `m` or start while
/// this one is inside the allocator, so a plain store takes it and another
/// releases it (mutexUnlock), as glibc's malloc skips its arena locks then.
/// A locked instruction waits for the thread's earlier stores to drain: in
/// bench burst, whose blocks are written just before the refill that
/// takes a bin lock, 15% of the samples sat on that instruction
/// (perf record -e cpu-clock). `m` found held is this thread re-entering
/// the allocator inside its own critical section (a signal handler that
/// allocates): with other threads that waits forever; alone, it aborts.
@inline(__always)
private func mutexLockAlone(_ m: UnsafeMutablePointer<Mutex>) {
  let w = atomicU32(&m.pointee.word)
  if w.pointee.load(ordering: .relaxed) != 0 { lockReentered() }
  w.pointee.store(1, ordering: .relaxed)
  countAcquisition(m, spun: false, slept: false)
}

@inline(never)
private func lockReentered() -> Never {
  fatal("allocator lock re-entered by the thread holding it (malloc called from a signal handler?)")
}

/// Takes `m` if it is free, without spinning or sleeping: for a thread that
/// has another way to make progress when `m` is held (a flush to another
/// arena's bin pushes its batch onto the remote-free stack instead).
@inline(__always)
func mutexTryLock(_ m: UnsafeMutablePointer<Mutex>) -> Bool {
  let w = atomicU32(&m.pointee.word)
  if swalloc_single_threaded() {
    mutexLockAlone(m)
    return true
  }
  if w.pointee.load(ordering: .relaxed) != 0 { return false }
  if !w.pointee.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged { return false }
  countAcquisition(m, spun: false, slept: false)
  return true
}

/// What a lock acquisition adds to its thread's lock weight
/// (swalloc_tls_lock_weight; ArenaSpread.judge reads it as a rate), in units
/// of about 100 ns of the thread's time: one that takes over a lock another
/// thread held last, whose line (and the data it guards) comes from another
/// core, 1; one that finds it held and spins, 4; one that sleeps on it, the
/// time it slept (a holder preempted inside its critical section can make
/// that milliseconds), at least lockWeightSleep and at most
/// lockWeightSleepMax (1 ms: one preemption does not make a pattern).
let lockWeightHandoff: UInt32 = 1
let lockWeightSpin: UInt32 = 4
let lockWeightSleep: UInt32 = 32
let lockWeightSleepMax: UInt64 = 10_000

@inline(never)
func mutexLockContended(_ m: UnsafeMutablePointer<Mutex>) {
  swalloc_tls_add_lock_weight(lockWeightSpin)
  let w = atomicU32(&m.pointee.word)
  // Spin briefly: critical sections are short, a sleep costs two syscalls.
  // 100 rounds with PAUSE (tens to a hundred cycles each) last a few
  // microseconds, about an extent-lock critical section (coalescing, decay);
  // without PAUSE the 100 rounds were over in well under one, and bench
  // server-churn slept on the futex in up to 1% of its 80k extent-lock
  // acquisitions (the report's "locks" line), with PAUSE in none or 2 (three
  // runs each; their times were within the shared machine's noise).
  var spins = 0
  while spins < 100 {
    if w.pointee.load(ordering: .relaxed) == 0,
       w.pointee.compareExchange(expected: 0, desired: 1, ordering: .acquiring).exchanged {
      countAcquisition(m, spun: true, slept: false)
      return
    }
    swalloc_spin_pause()
    spins &+= 1
  }
  let sleptAt = monotonicUs()
  while w.pointee.exchange(2, ordering: .acquiring) != 0 {
    swalloc_futex_wait(&m.pointee.word, 2)
  }
  let slept = min((monotonicUs() &- sleptAt) &* 10, lockWeightSleepMax)
  swalloc_tls_add_lock_weight(max(UInt32(truncatingIfNeeded: slept), lockWeightSleep) &- lockWeightSpin)
  countAcquisition(m, spun: false, slept: true)
}

@inline(__always)
func mutexUnlock(_ m: UnsafeMutablePointer<Mutex>) {
  let w = atomicU32(&m.pointee.word)
  invariant(w.pointee.load(ordering: .relaxed) != 0, "a lock released that was not held")
  // Alone, no thread can be waiting (see mutexLockAlone).
  if swalloc_single_threaded() {
    w.pointee.store(0, ordering: .relaxed)
    return
  }
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
