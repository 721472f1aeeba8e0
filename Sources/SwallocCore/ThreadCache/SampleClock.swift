// The heap profiler's sampling clock (Control/Prof.swift has the design):
// the per-thread byte countdown of the slow paths and the per-class block
// countdowns of the thread cache (TcacheBin.countdown), with the generator
// and the exponential draws they share. It sits in this layer because the
// thread cache's counted pops run it; the profiler above decides what a
// sample records.

import CSwallocPlatform

/// Profiling is active (prof.active): a countdown that runs out samples,
/// and the slow paths run the byte countdown. Racy by design: prof.active
/// stores it without a lock and the allocation paths read it on every slow
/// call; a thread may sample one call more or less after a change.
nonisolated(unsafe) var profActive = false
/// The sample period R in bytes (2^lg_prof_sample).
nonisolated(unsafe) var profRate: UInt = 1 << 19
/// backtrace(3) has been called once (its dlopen is done).
nonisolated(unsafe) var profPrimed = false

// MARK: Sampling

/// The slow-path step of every allocation while profiling is active:
/// whether this one, of usable size `usize`, is sampled.
@inline(__always)
func profSampleNow(_ usize: UInt) -> Bool {
  let s = swalloc_tls_prof().unsafelyUnwrapped
  if s.pointee.forced != 0 {
    // A thread-cache countdown chose this allocation (profForceSample).
    s.pointee.forced = 0
    return true
  }
  s.pointee.countdown &-= Int64(bitPattern: UInt64(usize))
  if s.pointee.countdown > 0 { return false }
  return profCountdownExpired(s, usize)
}

@inline(never)
func profCountdownExpired(_ s: UnsafeMutablePointer<swalloc_prof_tsd>, _ usize: UInt) -> Bool {
  if s.pointee.busy != 0 {
    // The profiler's own allocations: not counted, not sampled.
    s.pointee.countdown &+= Int64(bitPattern: UInt64(usize))
    return false
  }
  if s.pointee.prng == 0 {
    // The thread's first allocation: seed, draw, count this one against it.
    profSeed(s)
    s.pointee.countdown = profDrawCountdown(s) &- Int64(bitPattern: UInt64(usize))
    if s.pointee.countdown > 0 { return false }
  }
  s.pointee.countdown = profDrawCountdown(s)
  return profPrimed
}

/// Seeds the thread's generator on its first use.
private func profSeed(_ s: UnsafeMutablePointer<swalloc_prof_tsd>) {
  if s.pointee.prng != 0 { return }
  var seed = UInt64(UInt(bitPattern: s)) &* 0x9E37_79B9_7F4A_7C15
  seed ^= UInt64(config.remoteLinkSecret) ^ (UInt64(monotonicMs()) << 20)
  s.pointee.prng = seed | 1
}

// The thread cache's per-class countdowns (TcacheBin.countdown): the byte
// countdown above, kept per class and in blocks, so that a cache hit pays
// one decrement and branch (which it pays anyway, as its allocation count)
// and no profiling step. Sampling each byte with probability 1/R is a
// memoryless (Poisson) process, so splitting the thread's allocations into
// streams (one per cached class, one for everything else: the byte
// countdown) and running a countdown on each samples every allocation with
// the same probability 1 - exp(-s / R) as one countdown over all of them.

/// Blocks of `size` bytes until a class's next sample: the allocation that
/// takes the class's bytes past an exponential draw of mean R.
func profDrawBlocks(_ size: UInt) -> UInt64 {
  let s = swalloc_tls_prof().unsafelyUnwrapped
  profSeed(s)
  let bytes = UInt64(bitPattern: profDrawCountdown(s))
  return max((bytes &+ UInt64(size) &- 1) / UInt64(max(size, 1)), 1)
}

/// At a class countdown's event: whether that allocation is sampled
/// (profiling active, the unwinder ready, not the profiler's own).
@inline(__always)
func profSampleDue() -> Bool {
  profActive && profPrimed && swalloc_tls_prof().unsafelyUnwrapped.pointee.busy == 0
}

/// A class countdown chose an allocation a fast path could not serve: the
/// slow path's profSampleNow samples it.
func profForceSample() {
  swalloc_tls_prof().unsafelyUnwrapped.pointee.forced = 1
}

/// -ln(u) R for u uniform in (0, 1]: bytes until the next sample.
func profDrawCountdown(_ s: UnsafeMutablePointer<swalloc_prof_tsd>) -> Int64 {
  var x = s.pointee.prng
  x ^= x >> 12
  x ^= x << 25
  x ^= x >> 27
  s.pointee.prng = x
  let r = x &* 0x2545_F491_4F6C_DD1D
  let u = Double((r >> 11) &+ 1) * (1.0 / 9007199254740992.0)
  let bytes = -profLog(u) * Double(profRate)
  return Int64(bytes) &+ 1
}

/// Natural logarithm of a positive finite double (no libm: the library
/// links libc only).
func profLog(_ x: Double) -> Double {
  let bits = x.bitPattern
  var e = Int((bits >> 52) & 0x7ff) &- 1023
  var m = Double(bitPattern: (bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000)
  if m > 1.4142135623730951 { m *= 0.5; e &+= 1 }
  // ln m = 2 atanh(t), t = (m - 1) / (m + 1), |t| <= 0.172
  let t = (m - 1) / (m + 1)
  let t2 = t * t
  var term = t
  var sum = 0.0
  var k = 1.0
  while k < 40 {
    sum += term / k
    term *= t2
    k += 2
  }
  return Double(e) * 0.6931471805599453 + 2 * sum
}

