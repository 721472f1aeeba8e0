// Thread caches: per-thread stacks of free regions, one per size class up to
// `tcache_max` (small classes and the smallest large classes). A hit pops or
// pushes one pointer without any lock or atomic; a miss fills half the stack
// from the arena bin under one lock, and a full stack flushes its older half:
// regions of the thread's own arena under that bin's lock, regions of other
// arenas as one batch per arena, under that bin's lock when it is free,
// else pushed onto its remote-free stack (one CAS, no wait; see Bin.swift).
// The refills, flushes and collectors are in TcacheFill.swift.

import CSwallocPlatform

/// One size class's stack of cached pointers. It grows down from `end`:
/// `head` is the most recently cached entry, the stack is empty when
/// `head == end` and full when `head == start`; the slot at `end` always
/// holds nil. `start` moves with the stack's capacity (tcacheResize),
/// within the slots its block reserves (config.tcacheCapacities); a new
/// stack sits in its dense slot first (tcacheDenseCapacity).
/// Comparing pointers keeps both fast paths to one load, one compare and
/// one store of the head, plus the countdown (malloc) or the frees count
/// (free).
struct TcacheBin {
  var head: UnsafeMutablePointer<UnsafeMutableRawPointer?>
  /// The free fast path has room while head > fastLimit. Small classes:
  /// the top of the stack's foreign entries, regions of other arenas this
  /// thread freed, kept in [start, fastLimit) until a flush sends them
  /// home (the stack's own entries grow down from `end`, so malloc never
  /// hands them out: see freeOtherArena). Large classes: `end` (never
  /// room), whose frees take the slow path to mark the run as cached (a
  /// second free of it is then caught: see freeSlow); and every class under
  /// secure:true.
  var fastLimit: UnsafeMutablePointer<UnsafeMutableRawPointer?>
  var start: UnsafeMutablePointer<UnsafeMutableRawPointer?>
  var end: UnsafeMutablePointer<UnsafeMutableRawPointer?>
  /// Counted pops (the malloc fast paths) left until the next countdown
  /// event, at least 1 between events: a pop decrements it, and the pop
  /// that takes it to 0 is not made but sent to tcacheCountdownEvent. With
  /// prof:true that allocation is the class's next heap-profile sample (the
  /// countdown is drawn per class: see Prof.swift); without, the countdown
  /// starts at 2^62 and never runs out. One decrement and branch that also
  /// counts: the pops since the last fold are countdownStart - countdown.
  var countdown: UInt64 = 0
  var countdownStart: UInt64 = 0
  /// Blocks the free fast path gave to this stack. With the pops above, the
  /// thread's share of thread.allocated / thread.deallocated (Stats.swift);
  /// slow paths count bytes in the tsd instead.
  var frees: UInt64 = 0
  /// Regions a refill asks for: half the capacity, at most
  /// tcacheRefillBudget bytes' worth (see there); a new stack's first
  /// refills ask for fewer (tcacheFillFirst).
  var fill: UInt32 = 1
  /// Set when the stack ran empty and was refilled: bit 0 since the
  /// garbage collector last looked at it, bit 1 since the stack last
  /// overflowed; bit 2: that overflow followed a refill; bit 3: the
  /// refills reached their full size (tcacheRefilledSinceVisit,
  /// tcacheRefilledSinceOverflow, tcacheSwungAtLastOverflow,
  /// tcacheFillRamped in TcacheFill.swift); bits 8-15: the refills made
  /// at the first fill (tcacheLightRefillMask).
  var refilled: UInt32 = 0

  /// Entries the stack holds when full.
  var capacity: UInt32 { UInt32(truncatingIfNeeded: end - start) }
}

extension UnsafeMutablePointer where Pointee == TcacheBin {
  @inline(__always) func pop() -> UnsafeMutableRawPointer? {
    let h = pointee.head
    if h == pointee.end { return nil }
    pointee.head = h + 1
    return h.pointee
  }

  /// pop() for a block handed to the caller by a fast path, counted by the
  /// countdown (for thread.allocated and heap profiling). nil: empty, or a
  /// heap-profile sample is due (tcacheCountdownEvent set the thread's
  /// forced-sample flag, which the caller's slow path acts on).
  @inline(__always) func popCounted(sizeClass: Int) -> UnsafeMutableRawPointer? {
    let h = pointee.head
    if h == pointee.end { return nil }
    let left = pointee.countdown &- 1
    pointee.countdown = left
    if left == 0 { return tcacheCountdownPop(self, sizeClass: sizeClass) }
    pointee.head = h + 1
    return h.pointee
  }

  /// popCounted() for the cache hits that take no call: nil also when the
  /// countdown is about to reach its event, which the caller's slow path
  /// then meets through popCounted.
  @inline(__always) func popBeforeEvent() -> UnsafeMutableRawPointer? {
    let h = pointee.head
    if h == pointee.end || pointee.countdown <= 1 { return nil }
    pointee.countdown &-= 1
    pointee.head = h + 1
    return h.pointee
  }

  /// The free fast path's push (the stacks seen through fastPathBins):
  /// false when the fast path has no room (fastLimit), or when `address` is
  /// the block freed last, an immediate double free, which the slow path
  /// reports. (An empty stack's *head is the nil slot past its end.
  /// Compared as words: comparing the optionals adds nil tests.)
  @inline(__always) func fastPush(_ pointer: UnsafeMutableRawPointer?, address: UInt) -> Bool {
    let head = pointee.head
    if head <= pointee.fastLimit || unsafeBitCast(head.pointee, to: UInt.self) == address { return false }
    let slot = head - 1
    slot.pointee = pointer
    pointee.head = slot
    pointee.frees &+= 1
    return true
  }

  /// Pushes unless the stack is full: its head at `floor` (the stack's
  /// start, or the top of its foreign entries: localFloor).
  @inline(__always) func push(_ p: UnsafeMutableRawPointer,
                              floor: UnsafeMutablePointer<UnsafeMutableRawPointer?>) -> Bool {
    let h = pointee.head
    if h <= floor { return false }
    let n = h - 1
    n.pointee = p
    pointee.head = n
    return true
  }

  @inline(__always) var count: Int { pointee.end - pointee.head }

  /// Entries of other arenas' regions at the bottom of the stack of class
  /// `sizeClass`: [start, fastLimit) when the class keeps them, else none.
  @inline(__always) func foreignCount(sizeClass: Int) -> Int {
    tcacheKeepsForeign(sizeClass) ? pointee.fastLimit - pointee.start : 0
  }

  /// Pushes another arena's block onto the foreign entries at the bottom
  /// of the stack (freeOtherArena), unless they already fill half of it or
  /// the stack has no room.
  @inline(__always) func pushForeign(_ p: UnsafeMutableRawPointer) -> Bool {
    let top = pointee.fastLimit
    // Below half the stack: top - start < (end - start) / 2.
    if top >= pointee.head
       || UInt(bitPattern: top) &* 2 >= UInt(bitPattern: pointee.end) &+ UInt(bitPattern: pointee.start) { return false }
    top.pointee = p
    pointee.fastLimit = top + 1
    return true
  }

  /// Where the stack's own entries end: above the foreign ones.
  @inline(__always) func localFloor(sizeClass: Int) -> UnsafeMutablePointer<UnsafeMutableRawPointer?> {
    tcacheKeepsForeign(sizeClass) ? pointee.fastLimit : pointee.start
  }
}

struct Tcache {
  var arena: UnsafeMutablePointer<Arena>
  /// secure:true: the thread's quarantine (Secure.swift); kept with the
  /// block when it is recycled.
  var quarantine: UnsafeMutablePointer<Quarantine>? = nil
  /// Slow-path events since the last garbage-collection step.
  var gcEvents: UInt32 = 0
  /// The stack the next garbage-collection step looks at.
  var gcCursor: UInt32 = 0
  /// Slow-path allocations counted by tcacheIdleTick, and when (ms,
  /// truncated) its last pass ran.
  var idleEvents: UInt32 = 0
  var idlePassMs: UInt32 = 0
  /// The small class whose stack last overflowed in a run of frees
  /// (tcacheOverflow): the class after a second overflow in that run,
  /// -2 - class after the first, -1 when none. The next refill of another
  /// class ends a run of two (tcacheEndFreeRun).
  var freeRunClass: Int32 = -1
  /// What the arena's locks cost the thread (arenaSpreadCheck).
  var spread: ArenaSpread
}

/// The countdown of a class that is not profiled: 2^62 pops, i.e. never.
let tcacheCountdownNever: UInt64 = 1 << 62

/// A new stack's countdown: a draw when profiling is possible (prof:true),
/// else never.
func tcacheFirstCountdown(sizeClass: Int) -> UInt64 {
  config.opt.prof ? profDrawBlocks(sizeClassSize(sizeClass)) : tcacheCountdownNever
}

/// A counted pop took a class's countdown to 0 (see TcacheBin.countdown):
/// this allocation was not served. Folds the class's counts (leaving this
/// allocation out), draws the next countdown, and tells whether this
/// allocation is a heap-profile sample.
@inline(never)
func tcacheCountdownEvent(_ bin: UnsafeMutablePointer<TcacheBin>, sizeClass: Int) -> Bool {
  bin.pointee.countdown = 1
  let size = sizeClassSize(sizeClass)
  threadCountsFoldBin(bin, size: size)
  let next = config.opt.prof ? profDrawBlocks(size) : tcacheCountdownNever
  bin.pointee.countdown = next
  bin.pointee.countdownStart = next
  return config.opt.prof && profSampleDue()
}

/// popCounted() at its countdown event: the pop made uncounted and its
/// bytes counted in the tsd, or nil with the thread's forced-sample flag
/// set when the allocation is to be sampled.
@inline(never)
func tcacheCountdownPop(_ bin: UnsafeMutablePointer<TcacheBin>, sizeClass: Int) -> UnsafeMutableRawPointer? {
  if tcacheCountdownEvent(bin, sizeClass: sizeClass) {
    profForceSample()
    return nil
  }
  guard let p = bin.pop() else { return nil }
  threadCountBytes(bootedClassSize(sizeClass))
  return p
}

/// TcacheBin records start this far into a Tcache block (where the TLS
/// slot points: swalloc_platform.h).
let tcacheBinsOffset = Int(SWALLOC_TCACHE_BINS_OFFSET)
/// The word just before the stacks: a copy of the cache's arena, which the
/// free fast path compares with the arena of the block's chunk (Tcache
/// record fields cannot be placed at a fixed offset; tcacheSetArena keeps
/// the two equal).
let tcacheOwnerOffset = tcacheBinsOffset &- 8

/// Binds the cache to arena `a` (its refills, its flushes' own arena, and
/// the free fast path's ownership test).
func tcacheSetArena(_ t: UnsafeMutablePointer<Tcache>, _ a: UnsafeMutablePointer<Arena>) {
  t.pointee.arena = a
  (UnsafeMutableRawPointer(t) + tcacheOwnerOffset).storeBytes(of: UInt(bitPattern: a), as: UInt.self)
}

/// The largest block a thread's cache keeps apart when it belongs to
/// another arena (freeOtherArena). The classes above, up to 15 KiB, have
/// stacks of 8 to 16 entries, whose foreign half went home every 4 to 8
/// frees: bench server-churn (blocks of 16 B-64 KiB, a quarter freed by
/// another thread) took 0.111 s against 0.097 before the foreign entries,
/// 0.095 with them limited to 4 KiB (medians of 9 interleaved runs), with
/// the same peak RSS within its noise (20.4 / 21.8 / 21.6 MiB) and
/// larson's gain kept (4.7-4.8 MiB against 6.1). Their foreign blocks are
/// reused by the freeing thread, as large runs are.
let tcacheForeignMaxSize: UInt = 4096

/// Whether a class's stack keeps other arenas' regions at its bottom
/// (TcacheBin.fastLimit): the classes up to tcacheForeignMaxSize, except
/// under secure:true, whose frees all take the full path.
@inline(__always)
func tcacheKeepsForeign(_ sizeClass: Int) -> Bool {
  UInt(sizeClass &+ 1) << tcacheBinShift <= config.tcacheForeignBinOffsetLimit && !config.opt.secure
}
// The cached classes, the block size and the stack capacities are boot-once
// values in `config` (tcacheBoot).

/// Recycled Tcache blocks. Guarded by tcacheRecycleLock.
nonisolated(unsafe) var tcacheRecycle = RecycleList()
nonisolated(unsafe) var tcacheRecycleLock = Mutex()

/// A Tcache block holds one TcacheBin per page-map class code (size class
/// + 1, 0...classCount): code 0 (not an allocation) and every class above
/// tcache_max get an empty, zero-capacity stack, so both fast paths index
/// the bins without a range check and simply fall through to the slow path.
let tcacheBinCount = classCount &+ 1

@inline(__always)
func tcacheBin(forCode classPlusOne: Int, _ t: UnsafeMutablePointer<Tcache>) -> UnsafeMutablePointer<TcacheBin> {
  (UnsafeMutableRawPointer(t) + tcacheBinsOffset).assumingMemoryBound(to: TcacheBin.self) + classPlusOne
}

@inline(__always)
func tcacheBin(_ t: UnsafeMutablePointer<Tcache>, _ sizeClass: Int) -> UnsafeMutablePointer<TcacheBin> {
  tcacheBin(forCode: sizeClass &+ 1, t)
}

/// Bytes a small class's stack may cache before the 200-entry cap: bench
/// churn-lifo (LIFO batches of 8-512 B) ran 20% fewer allocator instructions
/// with 32 KiB than with jemalloc's rule alone (callgrind), 16 KiB got most
/// of that, 64 KiB nothing more there.
let tcacheStackBudget: UInt = 32 << 10

/// Bytes a stack of large blocks (16 KiB and up) holds before it grows:
/// jemalloc's 20 entries capped to this, at least one (16 KiB: 4 entries,
/// 20 KiB: 3, 24-32 KiB: 2, 40-64 KiB: 1), 500 KiB per thread for the
/// classes from 16 to 64 KiB. A thread that keeps using a class grows its
/// stack (tcacheOverflow, up to tcacheBigGrowBudget); a thread that only
/// holds on to a few runs of many classes does not. The latter is what
/// made node's peak RSS: V8's threads each kept a few runs of every class
/// from 16 to 64 KiB (bench/real/RESULTS.md). With 256 KiB (at least 4 entries, 2.3 MiB per
/// thread), `bench/real/node-churn.sh LIB churn` peaked at 130-137 MiB,
/// now at 125-128 (glibc 121-124); the bench's workloads that use these
/// classes ran as many instructions (callgrind: aligned +0.2%,
/// server-churn +0.7%, mixed-lifetime, leak-grow, realloc-grow within
/// 0.5%) with the same peak RSS.
let tcacheBigStackBudget: UInt = 64 << 10

/// Bytes one refill hands to a stack at most. Without it a refill took half
/// the capacity, and the 20-entry floor made that 10 regions of up to 15 KiB
/// (150 KiB of slab per class) for a thread that may want one: with eight
/// classes per doubling in 4..16 KiB those reservations split the first
/// chunk, and bench realloc-grow (a block grown through every class) needed
/// a second chunk and copies into it (peak RSS 7.5 -> 9.6 MiB). Classes up
/// to 3 KiB are unaffected (half their stack is within the budget).
let tcacheRefillBudget: UInt = 32 << 10

/// Bytes a small class's stack may grow to while the class is hot
/// (tcacheOverflow), at most tcacheGrowSlots entries; only stacks with
/// fewer than that grow. The base sizes leave the classes from 2 to 14
/// KiB 8 to 16 entries: bench aligned (blocks up to 32 KiB, alignments up
/// to 4 KiB, freed at random) sent a quarter of its 4 KiB blocks through
/// the bin, a stack of 8 running empty and full again every 16 operations
/// or so (a random walk needs about (capacity / 2)^2 steps from the
/// middle to an end).
let tcacheGrowBudget: UInt = 64 << 10
let tcacheGrowSlots: UInt32 = 32

/// tcacheGrowBudget for a process that has only ever had one thread
/// (tcacheGrowthLimit): with 64 KiB the classes from 4 to 15 KiB grow to
/// 4-16 entries, or not at all, and a single thread replacing 2048 blocks
/// of 8-15 KiB at random (256 live per class; bench aligned's pattern
/// with malloc) refilled or flushed on 9% of its calls (callgrind: 58.8K
/// refills and 30.8K flushes in 1M mallocs, ~55 slow-path instructions
/// per malloc + free; tcmalloc none). 256 KiB lets them grow to 17-32
/// entries: 4M such operations 0.160 -> 0.132 s (tcmalloc 0.129; medians
/// of 7 interleaved runs), bench aligned 339.2M -> 325.7M instructions
/// (`wl aligned 1 1`, tcmalloc 320.6M), its peak RSS unchanged (12.7
/// MiB). Not with threads: a thread that frees blocks other threads
/// allocated (bench server-churn) holds more of them in its grown stacks
/// while their allocators take new slabs: server-churn's peak RSS 17.4 ->
/// 19.1 MiB with 256 KiB for every process (17.8 with 128 KiB), medians
/// of 11 interleaved runs. Alone, a stack's blocks are the one thread's
/// to reuse.
let tcacheGrowBudgetAlone: UInt = 256 << 10

/// The most entries the stack of small or large class `sizeClass` grows
/// to now: its reserved slots while the process has one thread, the
/// shared budgets' share once it has had more (already grown stacks keep
/// their size until the collector halves them).
@inline(__always)
func tcacheGrowthLimit(_ sizeClass: Int) -> UInt32 {
  swalloc_single_threaded() ? config.tcacheCapacities[sizeClass] : config.tcacheSharedCapacities[sizeClass]
}

/// The same for the stacks of large blocks (16 KiB up to tcache_max),
/// which start at tcacheBigStackBudget: to tcacheBigGrowBudget, at most
/// tcacheGrowSlots entries. Bench aligned (1 thread, 2048 slots of blocks
/// up to 32 KiB replaced at random) swung its 16-32 KiB stacks of 8 to 16
/// entries through the arena's extent lock every few operations: `wl
/// aligned 1 1` 363.5M -> 346.2M instructions (callgrind), time 0.108 ->
/// 0.096 s and peak RSS 18.9 -> 17.9 MiB (medians of 11 interleaved
/// runs); server-churn (blocks up to 64 KiB handed between two threads)
/// 136.0M -> 128.5M instructions, 0.092 -> 0.087 s, for peak RSS 14.3 ->
/// 15.7 MiB (its grown stacks hold more of the other thread's runs);
/// leak-grow, mixed-lifetime and realloc-grow within 1%.
let tcacheBigGrowBudget: UInt = 512 << 10

/// tcacheBigGrowBudget once the process has had threads (tcacheGrowthLimit),
/// as for the small classes: a thread that frees runs other threads
/// allocated holds them in its grown stacks while their allocators take
/// others from the arena, so each thread's stacks of nine classes held up
/// to 4.5 MiB. Bench server-churn (two threads, blocks of 16 B-64 KiB, a
/// quarter freed by the other thread): peak RSS 17.0 -> 15.1 MiB (medians
/// of 11 interleaved runs), 126.6M -> 131.1M instructions (`wl
/// server-churn 2 0.3`, callgrind: more misses reach the arena), time
/// 0.108 -> 0.114 s. 128 KiB: 14.1 MiB for 139.5M instructions and 0.129
/// s. node-churn and node-workers (bench/real, 5 interleaved runs each):
/// times and peaks within their run-to-run spread. A process with one
/// thread keeps the full budget (bench aligned unchanged).
let tcacheBigGrowBudgetShared: UInt = 256 << 10

/// Computes the cached classes and stack sizes from `tcacheMaxBytes`.
func tcacheBoot(maxBytes: UInt) {
  config.tcacheClassCount = maxBytes == 0 ? 0 : min(classIndexFor(min(maxBytes, largeMaxClass)) &+ 1, classCount)
  var stackSlots: UInt = 0
  var c = 0
  while c < config.tcacheClassCount {
    // The big classes' 20 entries, within tcacheBigStackBudget bytes.
    let size = sizeClassSize(c)
    var capacity = UInt32(min(max(tcacheBigStackBudget / size, 1), 20))
    if c < config.smallClassCount {
      // Twice the regions of a slab (jemalloc's rule, up to 200) plus a byte
      // budget: classes whose slabs hold few regions (448 B: 9) would
      // otherwise cache only 18 blocks and refill/flush every few calls.
      // Without jemalloc's 20-entry floor: it made the classes from 1.8 to
      // 14 KiB cache 20 blocks (4 KiB: 80 KiB, 14 KiB: 280 KiB per thread)
      // where twice their slab holds 8 to 18. Bench server-churn (blocks of
      // 16 B-64 KiB handed between threads): median peak RSS of 11 runs
      // 25.9 -> 22.3 MiB, +2.3% instructions, time within noise. The cost:
      // bench aligned (blocks up to 32 KiB, single thread) refills and
      // flushes those classes more often, +5.5% instructions (callgrind,
      // `wl aligned 1 0.3`); the other workloads unchanged (bench/run.py
      // --reps 5 against the old build).
      let byBudget = UInt32(tcacheStackBudget / size)
      capacity = min(max(config.binInfos[c].regionCount &* 2, byBudget, 4), 200)
    }
    config.tcacheBaseCapacities[c] = capacity
    // The slots reserved for growth cost address space in the block; only
    // the ones a grown stack uses become resident. A stack of
    // tcacheGrowSlots entries or more does not grow (grownTo gives its
    // capacity).
    func grownTo(_ budget: UInt) -> UInt32 { max(capacity, min(UInt32(budget / size), tcacheGrowSlots)) }
    let small = c < config.smallClassCount
    let most = grownTo(small ? tcacheGrowBudgetAlone : tcacheBigGrowBudget)
    let shared = grownTo(small ? tcacheGrowBudget : tcacheBigGrowBudgetShared)
    config.tcacheCapacities[c] = most
    config.tcacheSharedCapacities[c] = shared
    stackSlots &+= UInt(most)
    c &+= 1
  }
  let foreignMaxClass = min(classIndexFor(tcacheForeignMaxSize), config.smallClassCount &- 1)
  config.tcacheForeignBinOffsetLimit = config.opt.secure ? 0 : UInt(foreignMaxClass &+ 1) << tcacheBinShift
  // The block: the Tcache record and the bins, then the dense area (a nil
  // word, then each small class whose base capacity is above
  // tcacheDenseCapacity: that many slots and a nil sentinel), then the
  // full area (one slot run per class code, in code order, as tcacheCreate
  // walks it: the code's most entries and a nil sentinel; code 0 and the
  // uncached codes none). Every stack's start[-1] is thus a nil slot: the
  // sentinel before it, or the dense area's first word.
  var offset = UInt(tcacheBinsOffset) &+ UInt(MemoryLayout<TcacheBin>.stride &* tcacheBinCount) &+ 8
  c = 0
  while c < config.tcacheClassCount {
    config.tcacheDenseEnds[c] = 0
    if c < config.smallClassCount && config.tcacheBaseCapacities[c] > tcacheDenseCapacity {
      offset &+= UInt(tcacheDenseCapacity) &* 8
      config.tcacheDenseEnds[c] = UInt32(offset)
      offset &+= 8
    }
    c &+= 1
  }
  config.tcacheDenseAreaEnd = offset
  offset &+= 8   // code 0's stack: its sentinel only
  c = 0
  while c < config.tcacheClassCount {
    offset &+= UInt(config.tcacheCapacities[c]) &* 8
    config.tcacheFullEnds[c] = UInt32(offset)
    offset &+= 8
    c &+= 1
  }
  // The uncached codes' empty stacks: a sentinel each.
  offset &+= UInt(tcacheBinCount &- 1 &- config.tcacheClassCount) &* 8
  invariant(offset == config.tcacheDenseAreaEnd &+ (stackSlots &+ UInt(tcacheBinCount)) &* 8,
            "the thread-cache block layout lost a slot")
  config.tcacheBlockSize = offset
}

/// Entries a small class's stack holds while it is new: each thread's
/// stacks start in a dense slot of this many entries, all of them packed
/// together behind the bins, and move to their full slot (the capacity
/// of tcacheBoot, with its room to grow) the first time they want more:
/// a refill of more than half of it (a new stack's refills start at
/// tcacheFillFirst, then double) or an overflow (tcacheLeaveDenseSlot). A
/// thread that makes a few blocks of many classes used to write the top
/// of each class's full slot, 1-1.6 KiB apart for the classes up to 512 B,
/// and so touched most of its block's ~30 KiB: base memory resident at
/// the exit of `workloads many-threads T` (kB) T=1 84 -> 76, T=8 316 ->
/// 212, T=16 572 -> 366; peak RSS with 64 threads 9.1 -> 8.5 MiB (glibc
/// 5.4). 16 entries hold the ramp's first three refills (2, 4, 8) and as
/// many frees.
let tcacheDenseCapacity: UInt32 = 16

/// Regions a refill of a stack of `capacity` entries asks for: half of
/// them, at most tcacheRefillBudget bytes' worth for a small class, at
/// least 1; for a small class, whole cache lines' worth
/// (slabLineRegions) where the capacity allows.
func tcacheFill(sizeClass: Int, capacity: UInt32) -> UInt32 {
  var fill = capacity >> 1
  if sizeClass >= 0 && sizeClass < config.smallClassCount {
    fill = min(fill, UInt32(tcacheRefillBudget / UInt(config.binInfos[sizeClass].regionSize)))
    let line = slabLineRegions(sizeClass: sizeClass)
    if fill >= line {
      fill &= ~(line &- 1)
    } else if line <= capacity {
      fill = line
    }
  }
  return max(fill, 1)
}


func tcacheCreate(arena: UnsafeMutablePointer<Arena>) -> UnsafeMutablePointer<Tcache>? {
  var raw = recyclePop(&tcacheRecycle, &tcacheRecycleLock)
  // Base memory is fresh and zeroed: its sentinel slots are nil already, and
  // not writing them leaves the pages of unused stacks untouched.
  let recycled = raw != nil
  if raw == nil { raw = baseAlloc(config.tcacheBlockSize, alignment: 64) }
  guard let raw else { return nil }
  let t = raw.bindMemory(to: Tcache.self, capacity: 1)
  // recyclePush linked the block through its first word only.
  let quarantine = recycled ? t.pointee.quarantine : nil
  t.initialize(to: Tcache(arena: arena, quarantine: quarantine,
                          spread: ArenaSpread(now: UInt32(truncatingIfNeeded: monotonicMs()))))
  tcacheSetArena(t, arena)
  var stack = (raw + Int(config.tcacheDenseAreaEnd)).bindMemory(to: UnsafeMutableRawPointer?.self, capacity: 1)
  var code = 0
  while code < tcacheBinCount {
    let cached = code >= 1 && code <= config.tcacheClassCount
    let fullEnd = stack + Int(cached ? config.tcacheCapacities[code &- 1] : 0)
    invariant(!cached || UnsafeMutableRawPointer(fullEnd) == raw + Int(config.tcacheFullEnds[code &- 1]),
              "a thread-cache stack's full slot is not where tcacheBoot put it")
    // A stack starts at its base capacity (tcacheResize grows it), in its
    // dense slot if it has one (tcacheDenseCapacity).
    let base = cached ? config.tcacheBaseCapacities[code &- 1] : 0
    var end = fullEnd
    var capacity = base
    if cached && config.tcacheDenseEnds[code &- 1] != 0 {
      end = (raw + Int(config.tcacheDenseEnds[code &- 1])).assumingMemoryBound(to: UnsafeMutableRawPointer?.self)
      capacity = tcacheDenseCapacity
    }
    let start = end - Int(capacity)
    // secure:true caches no free at all (Secure.swift).
    let fastLimit = code &- 1 < config.smallClassCount && !config.opt.secure ? start : end
    let countdown = cached ? tcacheFirstCountdown(sizeClass: code &- 1) : 1
    tcacheBin(forCode: code, t).initialize(to: TcacheBin(head: end, fastLimit: fastLimit, start: start, end: end,
                                                         countdown: countdown, countdownStart: countdown,
                                                         fill: tcacheFirstFill(sizeClass: code &- 1, capacity: base)))
    // The slots at `end` (and at the full slot's end, for a stack that
    // moves there) stay nil: the free fast path compares *head with the
    // block being freed without first checking for an empty stack.
    if recycled { end.pointee = nil; fullEnd.pointee = nil }
    stack = fullEnd + 1
    code &+= 1
  }
  return t
}

/// Returns every cached region to its arena and the block to the recycle list.
func tcacheDestroy(_ t: UnsafeMutablePointer<Tcache>) {
  quarantineDrain(t)
  tcacheEmpty(t)
  arenaRelease(t.pointee.arena)
  recyclePush(&tcacheRecycle, &tcacheRecycleLock, UnsafeMutableRawPointer(t))
}
