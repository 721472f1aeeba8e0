// Process-wide byte accounting shared by the arenas, the huge blocks and
// the thread caches' slow paths (stats.allocated and its peak read it).

import CSwallocPlatform
import Synchronization

/// Bytes allocated right now (small regions handed out of the bins, large
/// runs, huge blocks) and the most there has been, kept with one atomic per
/// slow-path event (refill, flush, large or huge operation); the fast paths
/// do not touch them, so blocks sitting in thread caches count as allocated.
/// Atomic (relaxed): counters, ordered with nothing else.
let allocatedNow = Atomic<UInt>(0)
let allocatedPeak = Atomic<UInt>(0)

@inline(__always)
func statsAllocated(_ bytes: UInt) {
  // Alone (swalloc_single_threaded), plain loads and stores: a locked
  // add drains the thread's pending stores (see mutexLockAlone).
  if swalloc_single_threaded() {
    let now = allocatedNow.load(ordering: .relaxed) &+ bytes
    allocatedNow.store(now, ordering: .relaxed)
    if now > allocatedPeak.load(ordering: .relaxed) { allocatedPeak.store(now, ordering: .relaxed) }
    return
  }
  let now = allocatedNow.add(bytes, ordering: .relaxed).newValue
  var seen = allocatedPeak.load(ordering: .relaxed)
  while now > seen {
    let (exchanged, current) = allocatedPeak.compareExchange(expected: seen, desired: now, ordering: .relaxed)
    if exchanged { break }
    seen = current
  }
}

@inline(__always)
func statsDeallocated(_ bytes: UInt) {
  if swalloc_single_threaded() {
    allocatedNow.store(allocatedNow.load(ordering: .relaxed) &- bytes, ordering: .relaxed)
    return
  }
  allocatedNow.subtract(bytes, ordering: .relaxed)
}
