import CSwallocPlatform

// MARK: Per-thread byte counters (thread.allocated, thread.deallocated)
//
// jemalloc's exact per-thread totals of usable bytes allocated and freed,
// made of two parts so the fast paths only bump a count on the tcache stack
// they already write: each stack's allocs / frees times its class size, plus
// the bytes the slow paths count in the tsd (swalloc_tsd_bytes). A realloc
// that changes a block's usable size counts the old size as freed and the
// new one as allocated; one that keeps it (same size class) counts nothing.
//
// thread.peak (jemalloc 5.3): the highest allocated - deallocated of the
// thread since its last thread.peak.reset (or its start), which jemalloc
// samples every 64 KiB of allocation, as its fast path adds up bytes. Here
// it is sampled wherever the counters above take in allocated bytes: the
// slow paths' allocations, a stack's refill among them (whose counts are
// folded first), with no instruction on the fast paths (nor on flushes,
// which only lower it); and exactly when it is read or reset (every stack
// folded). Between two samples the stacks' unfolded counts make the
// sampled figure differ from the exact one by the change in the bytes the
// thread's cache holds since its stacks were folded (a pop is a block
// leaving the cache, a fast free one entering it), so a rise made of
// blocks the cache already held, followed by frees before any slow path,
// is missed by at most what the cache held.

@inline(__always)
func threadCountAllocated(_ bytes: UInt) {
  let counters = swalloc_tls_bytes().unsafelyUnwrapped
  counters[0] &+= UInt64(bytes)
  threadPeakSample(counters)
  // Every caller is a slow path that has finished its work and holds no
  // lock: the thread cache's idle pass may flush from here.
  tcacheIdleTick()
}

@inline(__always)
func threadCountDeallocated(_ bytes: UInt) {
  let counters = swalloc_tls_bytes().unsafelyUnwrapped
  counters[1] &+= UInt64(bytes)
}

/// An in-place resize, counted as freeing the old size and allocating the new.
func threadCountResize(from oldUsable: UInt, to newUsable: UInt) {
  if oldUsable == newUsable { return }
  threadCountDeallocated(oldUsable)
  threadCountAllocated(newUsable)
}

/// Moves a tcache's counts into the tsd byte counters, before the cache is
/// torn down while its thread goes on (thread.tcache.enabled:false), so the
/// totals never go backwards.
func threadCountsFold(_ t: UnsafeMutablePointer<Tcache>) {
  let counters = swalloc_tls_bytes().unsafelyUnwrapped
  let (allocated, deallocated) = tcacheCountedBytes(t, reset: true)
  counters[0] &+= allocated
  counters[1] &+= deallocated
  threadPeakSample(counters)
}

/// The calling thread's totals (wrapping, as jemalloc's).
func threadByteCounts() -> (allocated: UInt64, deallocated: UInt64) {
  let counters = swalloc_tls_bytes().unsafelyUnwrapped
  guard let t = currentTcache() else { return (counters[0], counters[1]) }
  let (allocated, deallocated) = tcacheCountedBytes(t, reset: false)
  return (counters[0] &+ allocated, counters[1] &+ deallocated)
}

/// thread.allocatedp / deallocatedp: the thread's byte counters themselves
/// (two uint64_t in its TLS), which the caller may read at any time. The
/// thread cache's fast paths count blocks per class, not bytes (a multiply
/// on every malloc would cost more than the rest of it); a class's counts
/// are folded into these counters whenever the cache goes to its arena for
/// that class (refill, flush) and all of them when this is asked. So they
/// lag the exact figure (thread.allocated) by at most the blocks the cache
/// handed out or took back since, per class.
func threadCountersPublished() -> UnsafeMutablePointer<UInt64> {
  if let t = currentTcache() { threadCountsFold(t) }
  return swalloc_tls_bytes().unsafelyUnwrapped
}

/// Folds one class's block counts into the thread's byte counters.
@inline(__always)
func threadCountsFoldClass(_ t: UnsafeMutablePointer<Tcache>, _ sizeClass: Int) {
  threadCountsFoldBin(tcacheBin(t, sizeClass), size: bootedClassSize(sizeClass))
}

/// The same for a stack of `size`-byte blocks: its pops are
/// countdownStart - countdown (TcacheBin.countdown).
@inline(__always)
func threadCountsFoldBin(_ bin: UnsafeMutablePointer<TcacheBin>, size: UInt) {
  let counters = swalloc_tls_bytes().unsafelyUnwrapped
  counters[0] &+= (bin.pointee.countdownStart &- bin.pointee.countdown) &* UInt64(size)
  counters[1] &+= bin.pointee.frees &* UInt64(size)
  bin.pointee.countdownStart = bin.pointee.countdown
  bin.pointee.frees = 0
}

/// Bytes allocated outside the stacks' counts, without the idle tick of
/// threadCountAllocated (for callers inside the thread cache's own paths).
@inline(__always)
func threadCountBytes(_ bytes: UInt) {
  let counters = swalloc_tls_bytes().unsafelyUnwrapped
  counters[0] &+= UInt64(bytes)
  threadPeakSample(counters)
}

// MARK: thread.peak

/// Raises the thread's peak (`counters` [2], the tsd's) to its allocated -
/// deallocated ([0] - [1]) when that is higher, both measured from the
/// last reset ([3]); compared as signed, as jemalloc does, so a thread that
/// frees more than it allocates (blocks other threads made) keeps a peak
/// of 0.
@inline(__always)
func threadPeakSample(_ counters: UnsafeMutablePointer<UInt64>) {
  let net = counters[0] &- counters[1] &- counters[3]
  if Int64(bitPattern: net) > Int64(bitPattern: counters[2]) { counters[2] = net }
}

/// thread.peak.read: the peak since the last reset, with the counts of
/// every stack folded first, so the present is exact.
func threadPeakRead() -> UInt64 {
  let counters = threadCountersPublished()
  threadPeakSample(counters)
  return counters[2]
}

/// thread.peak.reset: peaks are measured from here on, starting at 0.
func threadPeakReset() {
  let counters = threadCountersPublished()
  counters[2] = 0
  counters[3] = counters[0] &- counters[1]
}

/// Bytes a tcache's stacks counted (allocs / frees times class size),
/// optionally zeroing the counts.
private func tcacheCountedBytes(_ t: UnsafeMutablePointer<Tcache>, reset: Bool) -> (UInt64, UInt64) {
  var allocated: UInt64 = 0
  var deallocated: UInt64 = 0
  var c = 0
  while c < config.tcacheClassCount {
    let bin = tcacheBin(t, c)
    let size = UInt64(sizeClassSize(c))
    allocated &+= (bin.pointee.countdownStart &- bin.pointee.countdown) &* size
    deallocated &+= bin.pointee.frees &* size
    if reset { bin.pointee.countdownStart = bin.pointee.countdown; bin.pointee.frees = 0 }
    c &+= 1
  }
  return (allocated, deallocated)
}
