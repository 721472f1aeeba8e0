// Process-wide byte accounting shared by the arenas, the huge blocks and
// the thread caches' slow paths: the peak of the allocated bytes, which
// malloc_stats_print and `swalloc run` report (stats.allocated itself is
// summed from the bins and arenas under their locks: statsGather).

import CSwallocPlatform
import Synchronization

/// Bytes allocated right now (small regions handed out of the bins, large
/// runs, huge blocks) and the most there has been, kept at the slow-path
/// events (refill, flush, large or huge operation, a block of a thread
/// without a cache); the fast paths do not touch them, so blocks sitting in
/// thread caches count as allocated. Atomic (relaxed): counters, ordered
/// with nothing else. Signed: with threads, each passes its changes on in
/// batches (allocatedBatchBytes), so the figure may lag behind the truth by
/// up to a batch a thread either way, and dip below zero when one thread
/// frees what another has not counted yet.
let allocatedNow = Atomic<Int>(0)
let allocatedPeak = Atomic<Int>(0)

/// How far a thread's changes may run ahead of allocatedNow (either way)
/// before it passes them on (swalloc_tls_allocated_pending, 32 bits: the
/// library's initial-exec TLS is kept small, swalloc_platform.h). Why: one
/// shared atomic per event put every thread on one cache line. It was
/// noise with thread caches (a refill or flush moves kilobytes), but a
/// thread without one (tcache:false) makes an event of every block: bench
/// mixed-threads with tcache:false on two threads took 1.75 s (3.5 s of CPU
/// time), 0.61 s (1.2 s) with the atomics gone, as jemalloc (0.59 s). The
/// peak is then exact while the process has one thread, and below the true
/// one by at most a batch a thread after that.
let allocatedBatchBytes: Int64 = 64 << 10

/// A thread's pending bytes once it has exited (statsThreadExit): each
/// later change (the thread's other destructors) is passed on at once, not
/// lost with the thread.
let allocatedUnbatched = Int32.min

@inline(__always)
func statsAllocated(_ bytes: UInt) {
  statsChange(Int64(bitPattern: UInt64(bytes)))
}

@inline(__always)
func statsDeallocated(_ bytes: UInt) {
  statsChange(0 &- Int64(bitPattern: UInt64(bytes)))
}

@inline(__always)
private func statsChange(_ delta: Int64) {
  // Alone (swalloc_single_threaded), plain loads and stores: a locked
  // add drains the thread's pending stores (see mutexLockAlone). Nothing
  // is pending then: a process does not become single-threaded again.
  if swalloc_single_threaded() {
    let now = allocatedNow.load(ordering: .relaxed) &+ Int(delta)
    allocatedNow.store(now, ordering: .relaxed)
    if now > allocatedPeak.load(ordering: .relaxed) { allocatedPeak.store(now, ordering: .relaxed) }
    return
  }
  let pending = swalloc_tls_allocated_pending().unsafelyUnwrapped
  let sum = Int64(pending.pointee) &+ delta
  if sum < allocatedBatchBytes && sum > 0 &- allocatedBatchBytes {
    pending.pointee = Int32(truncatingIfNeeded: sum)
    return
  }
  if pending.pointee == allocatedUnbatched {
    statsPassOn(delta)
    return
  }
  pending.pointee = 0
  statsPassOn(sum)
}

@inline(never)
private func statsPassOn(_ delta: Int64) {
  let now = allocatedNow.add(Int(delta), ordering: .relaxed).newValue
  var seen = allocatedPeak.load(ordering: .relaxed)
  while now > seen {
    let (exchanged, current) = allocatedPeak.compareExchange(expected: seen, desired: now, ordering: .relaxed)
    if exchanged { break }
    seen = current
  }
}

/// At the calling thread's exit (its pthread key's destructor): passes its
/// pending bytes on, and its later changes at once (allocatedUnbatched).
func statsThreadExit() {
  let pending = swalloc_tls_allocated_pending().unsafelyUnwrapped
  let held = pending.pointee
  pending.pointee = allocatedUnbatched
  if held != 0 && held != allocatedUnbatched { statsPassOn(Int64(held)) }
}

/// The peak for the reports: never negative.
func statsAllocatedPeak() -> UInt {
  UInt(max(allocatedPeak.load(ordering: .relaxed), 0))
}
