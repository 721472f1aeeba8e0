// The thread cache's traffic with the arenas: refills of empty stacks,
// flushes of full ones (the thread's own arena under each bin's lock, other
// arenas' regions, kept apart at the bottom of each stack, as one batch per
// arena), and the two collectors that send
// back what a thread no longer uses (the incremental one on slow-path
// events, the idle pass on the clock). Tcache.swift has the stacks.

import CSwallocPlatform

/// Refills an empty small-class stack from the arena; returns a region, or
/// nil when memory is exhausted.
func tcacheRefillAndPop(_ t: UnsafeMutablePointer<Tcache>, sizeClass: Int) -> UnsafeMutableRawPointer? {
  if t.pointee.freeRunClass != -1 { tcacheEndFreeRun(t, sizeClass: sizeClass) }
  let bin = tcacheBin(t, sizeClass)
  let want = Int(bin.pointee.fill)
  // A stack in its dense slot moves to its full slot before a refill of
  // more than half the dense slot. Such a fill comes only while the stack
  // ramps: one whose ramp ended in its dense slot has a full fill that
  // fits there, and moves at its first overflow. So a ramped stack pays
  // one test of a bit here.
  if _slowPath(bin.pointee.refilled & tcacheFillRamped == 0) {
    if UInt32(want) > tcacheDenseCapacity >> 1 && tcacheHasDenseCapacity(bin) {
      tcacheLeaveDenseSlot(t, sizeClass: sizeClass)
    }
  }
  let end = bin.pointee.end
  // The refill's slots must lie above the foreign entries.
  if bin.pointee.fastLimit > end - want && bin.foreignCount(sizeClass: sizeClass) > 0 {
    tcacheFlushForeign(t, bin, sizeClass: sizeClass)
  }
  var got = binFill(t.pointee.arena, sizeClass: sizeClass, into: end - want, want: want)
  if got == 0 {
    got = arenaFallback(excluding: t.pointee.arena) { a -> Int? in
      let n = binFill(a, sizeClass: sizeClass, into: end - want, want: want)
      return n == 0 ? nil : n
    } ?? 0
    if got == 0 { return nil }
  }
  if got < want {
    // Keep the filled entries contiguous with the stack's end.
    var i = got
    while i > 0 { i &-= 1; (end - got + i).pointee = (end - want + i).pointee }
  }
  bin.pointee.head = end - got
  // The program is about to write these blocks: start loading their first
  // lines now, all at once, rather than one miss per malloc when it
  // stamps each (mimalloc's free-list extension writes each fresh block's
  // first word; its program then hits). Bench burst, medians of 15
  // interleaved runs: 0.28 -> 0.27 s. Only alone (swalloc_single_threaded): with
  // threads, regions freed by another thread come back through the bin
  // with their lines in that core's cache, and taking them early slowed
  // bench xmalloc by a third (0.08 -> 0.11 s). A prefetch of a page not
  // yet faulted in is dropped: no page becomes resident for it.
  if swalloc_single_threaded() {
    var i = 0
    while i < got { swalloc_prefetch_write((end - got + i).pointee); i &+= 1 }
  }
  if config.opt.secure { quarantineShuffle(t, end - got, count: got) }
  if bin.pointee.refilled & tcacheFillRamped == 0 { tcacheRampFill(bin, sizeClass: sizeClass) }
  bin.markRefilled()
  threadCountsFoldClass(t, sizeClass)
  tcacheEvent(t)
  return bin.pop()
}

/// Sends the foreign entries of a small class's stack home (flushSmall).
func tcacheFlushForeign(_ t: UnsafeMutablePointer<Tcache>, _ bin: UnsafeMutablePointer<TcacheBin>, sizeClass: Int) {
  let foreign = bin.foreignCount(sizeClass: sizeClass)
  if foreign == 0 { return }
  flushSmall(bin.pointee.start, count: foreign, sizeClass: sizeClass, home: t.pointee.arena)
  bin.pointee.fastLimit = bin.pointee.start
}

/// Flushes every stack of cache `t` (thread.tcache.flush, a cache torn
/// down, tcache.flush / destroy of an explicit cache).
func tcacheEmpty(_ t: UnsafeMutablePointer<Tcache>) {
  var c = 0
  while c < config.tcacheClassCount { tcacheFlush(t, sizeClass: c, keep: 0); c &+= 1 }
}

/// Flushes all but the `keep` most recently freed entries of one stack,
/// and all its foreign entries.
func tcacheFlush(_ t: UnsafeMutablePointer<Tcache>, sizeClass: Int, keep: Int) {
  let bin = tcacheBin(t, sizeClass)
  threadCountsFoldClass(t, sizeClass)
  tcacheFlushForeign(t, bin, sizeClass: sizeClass)
  let count = bin.count
  if count <= keep { return }
  let flushCount = count &- keep
  // The oldest entries sit nearest the end of the stack.
  let end = bin.pointee.end
  let items = end - flushCount
  if sizeClass < config.smallClassCount {
    flushSmall(items, count: flushCount, sizeClass: sizeClass, home: t.pointee.arena)
  } else {
    arenaFreeLargeBatch(items, count: flushCount)
  }
  // Slide the kept (most recent) entries up against the end.
  let head = bin.pointee.head
  var i = keep
  while i > 0 { i &-= 1; (end - keep + i).pointee = (head + i).pointee }
  bin.pointee.head = end - keep
}

/// Returns `count` regions of one small class to their arenas' bins, one
/// arena per round: the first region's arena takes every region of its own;
/// the rest are compacted to the front for the next round.
///
/// Another arena's bin is locked only if it is free at that moment
/// (jemalloc's direct return, without its wait); when it is held, the
/// regions go onto its remote-free stack instead, for its next holder to
/// drain. The direct return writes no link into the regions and its owner
/// reads none back (a cache miss per block on the owner's core): bench
/// xmalloc, a producer's blocks all freed by a consumer on another arena,
/// went from 264M to 224M instructions and from 0.21-0.25 s to 0.10-0.13 s
/// (docs/ARCHITECTURE.md, "Frees from other threads"). remote_queue:true
/// keeps every foreign batch on the stack.
private func flushSmall(_ items: UnsafeMutablePointer<UnsafeMutableRawPointer?>, count: Int,
                        sizeClass: Int, home: UnsafeMutablePointer<Arena>) {
  var remaining = count
  var freed: UInt = 0
  while remaining > 0 {
    let arena = chunkArena(UInt(bitPattern: items[0]))
    let bin = arena.pointee.bins + sizeClass
    let locked: Bool
    if arena == home {
      mutexLock(&bin.pointee.lock)
      locked = true
    } else {
      locked = !config.opt.remoteQueue && mutexTryLock(&bin.pointee.lock)
    }
    if locked {
      // Checked region by region under the lock (binFreeBatchLocked).
      binDrainRemoteLocked(arena, bin, sizeClass: sizeClass)
      remaining = binFreeBatchLocked(arena, bin, sizeClass: sizeClass, items, count: remaining, freed: &freed)
      mutexUnlock(&bin.pointee.lock)
      continue
    }
    var kept = 0
    var chainFirst: UInt = 0
    var chainLast: UInt = 0
    // Runs of items from one chunk pay the radix lookup once. (Every item
    // is a live block, so a chunk holding one is not unmapped during the
    // flush.)
    var chunks = ChunkMetaCursor()
    var i = 0
    while i < remaining {
      let address = UInt(bitPattern: items[i])
      if chunks.meta(address).pointee.arena != arena {
        items[kept] = items[i]
        kept &+= 1
      } else {
        // Link the region in front of the chain through its first word.
        remoteLinkStore(address, next: chainFirst)
        if chainFirst == 0 { chainLast = address }
        chainFirst = address
      }
      i &+= 1
    }
    binPushRemote(bin, first: chainFirst, last: chainLast)
    remaining = kept
  }
  // Remote batches are accounted when their owner drains them.
  statsDeallocated(freed &* bootedClassSize(sizeClass))
}

/// TcacheBin.refilled's bits: the stack ran empty and was refilled since
/// the collector's last visit of the class...
let tcacheRefilledSinceVisit: UInt32 = 1
/// ... and since the stack last overflowed.
let tcacheRefilledSinceOverflow: UInt32 = 2
/// Set by an overflow that followed a refill (a swing, tcacheOverflow).
let tcacheSwungAtLastOverflow: UInt32 = 4
/// Set once the stack's refills have reached their full size
/// (tcacheRampFill); never cleared.
let tcacheFillRamped: UInt32 = 8
/// Bits 8-15: the refills made at the first fill so far (tcacheRampFill,
/// up to tcacheLightRefills).
let tcacheLightRefillShift: UInt32 = 8
let tcacheLightRefillMask: UInt32 = 0xff << tcacheLightRefillShift

/// Regions a new stack's first refills take (or its full refill, if
/// smaller): once the process has threads, tcacheLightRefills refills of
/// this many (at least a cache line's worth, tcacheFirstFill), then each
/// refill doubles it up to the full size (half the stack, at most
/// tcacheRefillBudget bytes: tcacheFill): the 256 B class's 8 refills of
/// 1, then 2, 4, ..., 64. A process that has only ever had one thread
/// doubles from the first refill.
///
/// Why: what a refill takes beyond what the thread then allocates stays
/// in its cache, on slab pages other threads' regions keep resident. A
/// full-size first refill reserved 100 regions of each of a thread's
/// first 16-128 B classes and up to 32 KiB of each bigger one: `workloads
/// many-threads 64` (64 threads, 100 blocks of 16 B-1 KiB each) peaked at
/// 11.6-11.7 MiB (glibc 5.5-5.7, tcmalloc 10.8-11.0, jemalloc 14.0-14.2,
/// mimalloc 2.0.9 15.3-15.5), 9.2-9.7 MiB with a ramp doubling from 8,
/// 8.16 from 2 with the dense slots (tcacheDenseCapacity); its threads had
/// still taken 9769 regions for 6400 blocks, the last refill of each
/// class up to twice what was left to make. With 8 refills of 1 first:
/// 7593 regions, peak RSS 8232 -> 7564 KiB (16 threads 3352 -> 3020, 256
/// threads 27980 -> 24608; glibc 5448, 2660, 17736; medians of 5
/// interleaved runs). A thread that keeps allocating pays those refills
/// once per class (callgrind at scale 0.1-0.2, 11 workloads: server-churn,
/// whose two threads use ~45 classes, +0.3% to +1.0% in 3 runs each, its
/// runs under one build varying by 0.2%; aligned +0.09%; the rest within
/// 0.03%). Not alone: there the pages are the thread's own, and the light
/// refills cost bench churn-lifo (LIFO batches of 1-256 blocks) 185 +- 32
/// KiB of peak RSS (11 interleaved runs; burst +73 +- 37), nothing with
/// the rule (+20 +- 38, -32 +- 31). The bench's threaded workloads' peaks
/// moved within their noise (BENCHMARKS.md, session 40). The ramp from 2
/// before it cost burst +0.2% and xmalloc +0.8% over one from 8.
/// (Starting over at the collector's quiet visits cost burst 0.8%: it
/// ramped again for every burst of a class it had not used for a while.)
let tcacheFillFirst: UInt32 = 1
/// The refills a new stack makes at its first fill before it ramps.
let tcacheLightRefills: UInt32 = 8

/// The fill of a new stack of `capacity` entries (see tcacheFillFirst),
/// at least a cache line's worth of a small class (slabLineRegions).
func tcacheFirstFill(sizeClass: Int, capacity: UInt32) -> UInt32 {
  let first = sizeClass >= 0 && sizeClass < config.smallClassCount
    ? max(tcacheFillFirst, slabLineRegions(sizeClass: sizeClass)) : tcacheFillFirst
  return min(tcacheFill(sizeClass: sizeClass, capacity: capacity), first)
}

/// A refill of `bin.fill` regions before the stack's refills reached their
/// full size: the next one asks for twice as many.
@inline(never)
func tcacheRampFill(_ bin: UnsafeMutablePointer<TcacheBin>, sizeClass: Int) {
  // With threads, the first tcacheLightRefills refills keep the first fill.
  let light = (bin.pointee.refilled & tcacheLightRefillMask) >> tcacheLightRefillShift
  if light &+ 1 < tcacheLightRefills && !swalloc_single_threaded() {
    bin.pointee.refilled &+= 1 << tcacheLightRefillShift
    return
  }
  // (A stack in its dense slot ramps to the fill of its base capacity.)
  let most = tcacheFill(sizeClass: sizeClass,
                        capacity: max(bin.pointee.capacity, config.tcacheBaseCapacities[sizeClass]))
  let next = min(bin.pointee.fill &* 2, most)
  bin.pointee.fill = next
  if next == most { bin.pointee.refilled |= tcacheFillRamped }
}

extension UnsafeMutablePointer where Pointee == TcacheBin {
  /// The stack ran empty and is being refilled (a small class's refill, a
  /// large class's miss).
  @inline(__always) func markRefilled() {
    pointee.refilled |= tcacheRefilledSinceVisit | tcacheRefilledSinceOverflow
  }
}

/// A free found the stack of `sizeClass` full (its own entries; a stack
/// full of foreign ones is foreignStackFull's). A stack that ran empty
/// since it last overflowed swung through its whole capacity; one that
/// did so twice in a row keeps swinging between empty and full (a random
/// walk of the class's live count): it doubles, up to tcacheGrowthLimit
/// (the slots its block reserves, or fewer once the process has threads),
/// and takes the block without a flush (tcmalloc's per-class
/// lists grow the same way). One swing is not enough: a burst of one size
/// allocated and then freed swings once, and every further block of its
/// frees overflows again with no refill between, which a bigger stack
/// would not spare; grown stacks held every burst's last 64 KiB (bench
/// burst peak RSS 6.7 -> 7.2 MiB). Otherwise, or at its most, the older
/// half goes back (all of it in a run of frees). The collector
/// shrinks it again once the class goes quiet (tcacheCollect). The caller
/// pushes the block and then calls tcacheEvent.
func tcacheOverflow(_ t: UnsafeMutablePointer<Tcache>, sizeClass: Int) {
  let bin = tcacheBin(t, sizeClass)
  // A stack in its dense slot moves to its full slot, which has room.
  if _slowPath(tcacheHasDenseCapacity(bin)) && tcacheLeaveDenseSlot(t, sizeClass: sizeClass) { return }
  let capacity = bin.pointee.capacity
  let most = tcacheGrowthLimit(sizeClass)
  let refilled = bin.pointee.refilled
  let swung = refilled & tcacheRefilledSinceOverflow != 0
  let swingsAgain = swung && refilled & tcacheSwungAtLastOverflow != 0
  bin.pointee.refilled = (refilled & (tcacheRefilledSinceVisit | tcacheFillRamped | tcacheLightRefillMask))
                         | (swung ? tcacheSwungAtLastOverflow : 0)
  if swingsAgain && capacity < most {
    // Its foreign entries go home first: they sit at the stack's start.
    tcacheFlushForeign(t, bin, sizeClass: sizeClass)
    tcacheResize(bin, sizeClass: sizeClass, capacity: min(capacity &* 2, most))
    return
  }
  // A free run: since the stack's counts were last folded (its previous
  // flush or refill), the fast path pushed blocks and popped none, as when
  // a burst of blocks is freed. All of them go back, not half: the blocks
  // keep coming, and what is kept would be flushed at the next overflow
  // anyway (or held by a stack whose class the program stopped using: a
  // burst's class is seldom the next one's). Bench burst (runs of 128 to
  // 4096 blocks of one class allocated, then freed), `wl burst 1 0.2`:
  // half kept 437.2M instructions, a quarter 416.4M, none 374.8M (from
  // 384.9M, with the later changes); xmalloc 2 0.2 118.6M -> 116.4M,
  // server-churn +0.3%, larson +0.2%, aligned +0.1%, the others within
  // 0.05%. Fastest of 15 interleaved runs: burst 0.223 -> 0.219 s,
  // xmalloc 0.066 -> 0.065 s; median peak RSS 6.65 -> 6.57 and 2.84 ->
  // 2.80 MiB. (The same for refills, the whole stack after a run of pops,
  // took burst to 398M but held twice the regions in xmalloc's producers,
  // which only allocate: peak RSS +4%.) Under secure:true every free takes
  // the slow path, which the count of fast-path frees leaves out: no run
  // there.
  let freeRun = bin.pointee.frees != 0 && bin.pointee.countdownStart == bin.pointee.countdown && !config.opt.secure
  if freeRun && sizeClass < config.smallClassCount {
    // A second overflow of the same run: a burst of frees longer than the
    // stack, whose last blocks the next class's refill sends back.
    let c = Int32(truncatingIfNeeded: sizeClass)
    let first = -2 &- c   // its first overflow in the run (-1 is "none")
    t.pointee.freeRunClass = t.pointee.freeRunClass == c || t.pointee.freeRunClass == first ? c : first
  }
  tcacheFlush(t, sizeClass: sizeClass, keep: Int(freeRun ? 0 : capacity >> 1))
}

/// A refill of small class `sizeClass` after the stack of another class
/// overflowed twice in one run of frees (tcacheOverflow): if that stack is
/// still in its run (no pop since), the run's last blocks go back too, and
/// the bin's spare slabs (Bin.swift) to the arena, whose other classes'
/// slabs can then take their pages (the spares serve only their class,
/// which the program just left). A program that frees a burst of blocks of
/// one class and goes on to another (a request's or a parser's
/// temporaries) left up to a stack of them in the cache until the
/// collector came by, each pinning a slab the rest of the burst emptied:
/// bench burst held ~0.6 MiB of slabs for 772
/// cached regions of 15 classes at its peak. `wl burst 1 1` peak RSS 6720
/// -> 6336 KiB with the blocks alone, 5952 KiB with the spares too (glibc
/// 5940; address randomization off, where the figure is exact), time the
/// same (0.139 -> 0.137 s, medians of 21), 162.0M instructions against
/// 165.4M at scale 0.1 (fewer slabs cycle). The other workloads' peak RSS
/// the same, python3's and sqlite3's included.
/// One overflow is not enough: a stack that random frees filled (bench
/// churn-random, aligned) would be flushed as well (+140 KiB each in a
/// trial, most of it the cold text this function was then in).
@inline(never)
func tcacheEndFreeRun(_ t: UnsafeMutablePointer<Tcache>, sizeClass: Int) {
  let last = Int(t.pointee.freeRunClass)
  t.pointee.freeRunClass = -1
  if last < 0 || last == sizeClass { return }
  let bin = tcacheBin(t, last)
  if bin.count > 0 && bin.pointee.countdownStart == bin.pointee.countdown {
    tcacheFlush(t, sizeClass: last, keep: 0)
    binTrimSpares(t.pointee.arena, sizeClass: last, evenIfTaken: true)
  }
}

/// Whether the stack `bin` of cache `t` is still in its dense slot
/// (tcacheDenseCapacity): the dense slots lie below the full ones.
@inline(__always)
func tcacheInDenseSlot(_ t: UnsafeMutablePointer<Tcache>, _ bin: UnsafeMutablePointer<TcacheBin>) -> Bool {
  UnsafeMutableRawPointer(bin.pointee.end) < UnsafeMutableRawPointer(t) + Int(bitPattern: config.tcacheDenseAreaEnd)
}

/// The refill's and the overflow's first test, of two words they read
/// anyway: a stack in its dense slot has the dense capacity, and a stack in
/// its full slot has it only for a class without a dense slot (base
/// capacity at most that); tcacheLeaveDenseSlot, out of line, tells them
/// apart. (Testing the layout's bound on every refill and overflow, which
/// the compiler made branch-free, cost `wl burst 1 0.1` 0.3-0.4% more
/// instructions.)
@inline(__always)
func tcacheHasDenseCapacity(_ bin: UnsafeMutablePointer<TcacheBin>) -> Bool {
  bin.pointee.end - bin.pointee.start == Int(tcacheDenseCapacity)
}

/// Moves the stack of `sizeClass`, if it is in its dense slot, to its full
/// slot at its base capacity: its own entries to the top of the new slot,
/// its foreign ones to the bottom, in their order; the stack's fill and
/// state bits stay (tcacheDenseCapacity). The dense slot is not used again
/// by this cache (its sentinel stays nil, the next dense stack's
/// start[-1]). False: the stack was in its full slot already.
@inline(never) @discardableResult
func tcacheLeaveDenseSlot(_ t: UnsafeMutablePointer<Tcache>, sizeClass: Int) -> Bool {
  let bin = tcacheBin(t, sizeClass)
  if !tcacheInDenseSlot(t, bin) { return false }
  let oldStart = bin.pointee.start
  let oldEnd = bin.pointee.end
  let end = (UnsafeMutableRawPointer(t) + Int(config.tcacheFullEnds[sizeClass]))
    .assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
  let start = end - Int(config.tcacheBaseCapacities[sizeClass])
  invariant(oldEnd - oldStart == Int(tcacheDenseCapacity) && end - start > Int(tcacheDenseCapacity),
            "a thread-cache stack left a slot that was not its dense one")
  // (tcacheCreate left the full slot's sentinel nil, as the dense one's.)
  invariant(end.pointee == nil, "a thread-cache full slot's sentinel is not nil")
  let own = oldEnd - bin.pointee.head
  var i = 0
  while i < own { i &+= 1; (end - i).pointee = (oldEnd - i).pointee }
  // fastLimit: the stack's end (no fast-path frees: secure:true), or the
  // top of its foreign entries.
  let keepsEnd = bin.pointee.fastLimit == oldEnd
  let foreign = keepsEnd ? 0 : bin.pointee.fastLimit - oldStart
  i = 0
  while i < foreign { (start + i).pointee = (oldStart + i).pointee; i &+= 1 }
  bin.pointee.start = start
  bin.pointee.end = end
  bin.pointee.head = end - own
  bin.pointee.fastLimit = keepsEnd ? end : start + foreign
  return true
}

/// Sets the capacity of a stack that holds no foreign entries and at most
/// `capacity` entries of its own: moves its start (and its fast-path limit
/// with it, unless the limit is the stack's end: large classes, secure:true)
/// and its refill size with it.
func tcacheResize(_ bin: UnsafeMutablePointer<TcacheBin>, sizeClass: Int, capacity: UInt32) {
  let start = bin.pointee.end - Int(capacity)
  invariant(bin.pointee.head >= start, "a thread-cache stack resized below its entries")
  invariant(bin.pointee.fastLimit == bin.pointee.start || bin.pointee.fastLimit == bin.pointee.end,
            "a thread-cache stack resized with foreign entries")
  if bin.pointee.fastLimit == bin.pointee.start { bin.pointee.fastLimit = start }
  bin.pointee.start = start
  bin.pointee.fill = tcacheFill(sizeClass: sizeClass, capacity: capacity)
}

/// Slow-path events between two incremental garbage-collection steps.
let tcacheGCInterval: UInt32 = 32

/// Incremental garbage collection (jemalloc-style, driven by the thread's
/// own slow-path events so the fast paths pay nothing): every
/// `tcacheGCInterval` events, one stack is examined in turn; if it has not
/// run empty since its last visit, its cache is more than the thread needs
/// and three quarters of it go back to the arena.
func tcacheEvent(_ t: UnsafeMutablePointer<Tcache>) {
  t.pointee.gcEvents &+= 1
  if t.pointee.gcEvents < tcacheGCInterval { return }
  t.pointee.gcEvents = 0
  arenaSpreadCheck(t, now: UInt32(truncatingIfNeeded: monotonicMs()))
  if config.tcacheClassCount == 0 { return }
  let sizeClass = Int(t.pointee.gcCursor)
  t.pointee.gcCursor = (t.pointee.gcCursor &+ 1) % UInt32(config.tcacheClassCount)
  tcacheCollect(t, sizeClass: sizeClass)
  // Once a pass over the classes: the arena's pool of empty slabs and its
  // large-run cache, each kept while new slabs or runs come from it
  // (LargeAndSlabs.swift, runCachesTrim).
  if t.pointee.gcCursor == 0 { arenaTrimRunCaches(t.pointee.arena) }
}

/// One collector visit of class `sizeClass` (tcacheEvent's step, and each
/// class of tcacheIdleTick's pass): three quarters of a stack that did not
/// run empty since the previous visit go back and a grown stack halves
/// (not below its base capacity), the foreign entries go home, and the
/// bin's idle spare slabs go back to the arena.
private func tcacheCollect(_ t: UnsafeMutablePointer<Tcache>, sizeClass: Int) {
  let bin = tcacheBin(t, sizeClass)
  let quiet = bin.pointee.refilled & tcacheRefilledSinceVisit == 0
  if quiet {
    let count = bin.count
    if count > 0 { tcacheFlush(t, sizeClass: sizeClass, keep: count >> 2) }
  }
  // Foreign entries pin their owners' slabs: home at every visit.
  tcacheFlushForeign(t, bin, sizeClass: sizeClass)
  let base = config.tcacheBaseCapacities[sizeClass]
  if quiet && bin.pointee.capacity > base {
    // At most a quarter of the old capacity is left: it fits in half.
    tcacheResize(bin, sizeClass: sizeClass, capacity: max(bin.pointee.capacity >> 1, base))
  }
  bin.pointee.refilled &= ~tcacheRefilledSinceVisit
  if sizeClass < config.smallClassCount { binTrimSpares(t.pointee.arena, sizeClass: sizeClass) }
}

/// A check of thread cache `t` at `now` (monotonicMs, truncated), at each
/// collector step (every tcacheGCInterval refills and flushes) and every
/// tcacheIdleCheckEvery-th slow-path allocation (blocks above tcache_max
/// make no refills; the idle tick's clock read serves both): when its
/// window is judged a contended one (ArenaSpread.judge, Arena.swift), its
/// thread moves to a less loaded arena (arenaSpreadTarget). Its cached
/// blocks keep their arena and go home as any other arena's blocks do
/// (freeOtherArena, the flushes); its live blocks stay where they are, so
/// a thread that moves holds slabs in both arenas until they are freed.
///
/// Measured on two cores (2 threads unless said): the threads of bench
/// server-churn, larson, xmalloc and mixed-threads stay together (5 runs
/// each, quiet and with both cores loaded; server-churn with narenas:1
/// takes 45,000 locks in 0.1 s, 2,900 of them found held); with 8 threads,
/// server-churn spreads over 2 to 8 arenas. Counting held locks alone was
/// not enough: the two threads of mixed-threads with tcache_max:1024 (a
/// bin lock on every free above 1 KiB, 3.1 million in all, 3,600 found
/// held) stayed together and ran 0.58 s against 0.32 s with an arena each,
/// the bins' lines going back and forth between the cores. They now move
/// (0.39 s), at a cost in memory: their first blocks stay in arena 0, peak
/// RSS 10.8 MiB against 6.7.
func arenaSpreadCheck(_ t: UnsafeMutablePointer<Tcache>, now: UInt32) {
  if t.pointee.spread.judge(now: now), let target = arenaSpreadTarget(from: t.pointee.arena, now: now) {
    tcacheSetArena(t, target)
  }
}

/// Slow-path allocations between two looks at the clock (tcacheIdleTick).
let tcacheIdleCheckEvery: UInt32 = 16
/// At most one idle pass per this many milliseconds.
let tcacheIdlePassMs: UInt32 = 1000

/// The incremental collector above steps only on refills and overflows. A
/// thread that has freed most of its heap and now allocates lightly (hits
/// on a few stacks, and blocks too big for the cache) makes neither, so the
/// blocks its other stacks hold stay there for good, and each pins a slab
/// that would otherwise be empty and purged: after a free-all of ~1 GiB,
/// 14 MiB resident against 7.4 with tcache:false (tests/memtruth/ table
/// rows). So every 16th slow-path allocation of the thread (any that counts
/// bytes: misses, uncached and huge blocks) looks at the clock, and at most
/// once a second makes a pass over all its stacks with the collector's
/// rule: a stack that did not run empty since the previous look keeps a
/// quarter. A busy thread pays a clock read per 16 slow paths and, once a
/// second, a few flushes of stacks it was not using.
@inline(never)
func tcacheIdleTick() {
  guard let t = currentTcache() else { return }
  t.pointee.idleEvents &+= 1
  if t.pointee.idleEvents % tcacheIdleCheckEvery != 0 { return }
  let now = UInt32(truncatingIfNeeded: monotonicMs())
  // Blocks above tcache_max make no refills or flushes, so no collector
  // steps: their lock waits are looked at here (one clock read for both).
  arenaSpreadCheck(t, now: now)
  if now &- t.pointee.idlePassMs < tcacheIdlePassMs { return }
  t.pointee.idlePassMs = now
  var c = 0
  while c < config.tcacheClassCount {
    tcacheCollect(t, sizeClass: c)
    c &+= 1
  }
  arenaTrimRunCaches(t.pointee.arena)
}
