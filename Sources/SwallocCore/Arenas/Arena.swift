// Arenas: independent heaps, each with its own chunks, free extents and
// bins, so threads bound to different arenas never contend. An arena's page
// runs (extents) are guarded by `extentLock`; each bin has its own lock and
// a bin lock is always taken before the extent lock.

import CSwallocPlatform
import Synchronization

/// Guarded by `extentLock`, except `index` and `bins` (set when the arena is
/// made, read-only after), `destroyed` (arenasLock) and the bins' own fields
/// (each bin's lock).
struct Arena {
  // Field order matters to ThreadSanitizer (tests/sanitize/): it records a
  // Swift modify access through `arena.pointee` (arena.pointee.largeBytes +=,
  // arena.pointee.freeExtents.insert) as a write of the struct's first byte.
  // So the first field is one touched only under extentLock, like the
  // accesses themselves; the lock word and fields read without it (index,
  // bins) must not sit there, or every update would look like a race.
  var freeExtents: ExtentBuckets
  var extentLock = Mutex()
  var index: UInt32 = 0
  /// Recycled Extent records, linked through `next`.
  var recordCache: UnsafeMutablePointer<Extent>? = nil
  var bins: UnsafeMutablePointer<Bin>
  var chunkCount: UInt = 0
  var emptyChunkCount: UInt = 0
  var largeBytes: UInt = 0
  var largeCount: UInt = 0
  var largeMallocs: UInt = 0
  var largeFrees: UInt = 0
  /// Free extents whose pages are dirty / muzzy, and their decay (Decay.swift).
  var dirty: DecayStage
  var muzzy: DecayStage
  /// Muzzy pages in all free extents (also those on the dirty list, which
  /// muzzy.pages leaves out), for statistics.
  var muzzyPagesTotal: UInt = 0
  /// Pages of this arena's chunks that may be resident: taken into a run
  /// at least once since they were last purged (in use, dirty or muzzy).
  /// Its share of residentEstimatePages (Decay.swift, residentChange).
  var residentPages: UInt = 0
  /// This arena's decay times (arena.<i>.dirty_decay_ms / muzzy_decay_ms),
  /// from arenas.dirty_decay_ms / muzzy_decay_ms when it was created.
  var dirtyDecayMs: Int
  var muzzyDecayMs: Int
  /// The clock (monotonicMs) at the last full decay tick; 0 forces the
  /// next one (decayTickAfterTaking).
  var decayTickMs: UInt64 = 0
  /// Empty slabs between a bin giving one back and the next new slab
  /// (LargeAndSlabs.swift).
  var slabPool = SlabPool()
  /// Freed large runs kept for the next run of their class
  /// (LargeAndSlabs.swift).
  var largeCache = LargeRunCache()
  /// Destroyed by arena.<i>.destroy (guarded by arenasLock): empty, named
  /// by nothing, kept for the next arenas.create.
  var destroyed = false
}

/// All arenas (created lazily), the arena count and the lock guarding both.
/// Indices below `config.autoArenaCount` (narenas at boot) are the arenas threads
/// are bound to automatically; those from there up to `arenaCount` were made
/// by mallctl("arenas.create") and serve only the threads and MALLOCX_ARENA
/// calls that name them. The table has room for `config.arenaTableCapacity`.
let arenas = ArenaTable()
/// Written under arenasLock; read without it: it only grows, after the new
/// table entry is set, so a stale count only misses the newest arena.
nonisolated(unsafe) var arenaCount = 1
/// Guards the table's entries, arenaCount's writes, arenaThreadCounts,
/// arenasDirty/MuzzyDecayMs and Arena.destroyed.
nonisolated(unsafe) var arenasLock = Mutex()
/// Threads that have bound to an arena so far (the background thread's
/// default rule reads it). Atomic (relaxed): a counter that wraps (a
/// program making 10,000 threads a second binds its 2^32nd in five days;
/// a checked add trapped there; the rule only asks whether it is below 2,
/// which a wrap makes true for two bindings, long after the thread it
/// starts).
let threadsBound = Atomic<UInt32>(0)
/// Threads bound to an arena now: arenaChoose counts a thread in,
/// arenaRelease (its exit, or its move to a cache of its own) out, and a
/// fork child recounts (arenaRecountInForkChild). Written under arenasLock,
/// read without it. A futex word: the background purging thread
/// (Control/Background.swift) sleeps on it, and arenaRelease wakes it when
/// the count falls to 0, so that it leaves at once. Why: when the last
/// thread of a program calls pthread_exit, glibc ends the process (exit(0),
/// as POSIX asks) only if no other thread is left; the library's own
/// thread kept such a process alive for good (CPython's test_threading
/// forks from a worker thread, whose child then hung: tests/concurrency
/// last_thread_exit, fork_worker_exit).
nonisolated(unsafe) var threadsLiveWord: UInt32 = 0

/// Threads moved to another arena by arenaSpreadTarget so far (the stats
/// report). Atomic (relaxed): a counter that wraps, as threadsBound.
let threadsSpread = Atomic<UInt32>(0)
/// Room for 256 arenas made by arenas.create beyond the automatic ones
/// (config.arenaTableCapacity, within jemalloc's limit of 4095). Kept small
/// so the table shares the boot's pages.
let createdArenaLimit = 256
/// Decay times given to arenas created from now on (arenas.dirty_decay_ms,
/// arenas.muzzy_decay_ms; the options at boot). Guarded by arenasLock.
nonisolated(unsafe) var arenasDirtyDecayMs = 10_000
nonisolated(unsafe) var arenasMuzzyDecayMs = 0
/// Threads bound to each arena, by index (guarded by arenasLock). Kept out of
/// Arena itself so that no field of an arena is guarded by a lock other than
/// its own extentLock (and its bins' locks).
let arenaThreadCounts = ArenaThreadCounts()

/// One entry of the arena table: the arena and its bound threads side by
/// side, so the automatic arenas' entries share the table's first page
/// (the capacity above them is address space no one touches).
struct ArenaSlot {
  var arena: UnsafeMutablePointer<Arena>? = nil
  var threads = 0
  /// When a thread last left this arena for another (arenaSpreadTarget;
  /// monotonicMs truncated, 0: never).
  var departedMs: UInt32 = 0
}
/// The table, in base memory: config.arenaTable (boot-once), typed; its
/// entries are guarded by arenasLock.
var arenaSlots: UnsafeMutablePointer<ArenaSlot> {
  @inline(__always) get { config.arenaTable.assumingMemoryBound(to: ArenaSlot.self) }
}

/// `arenas[i]`: the arena of slot i (nil until created).
struct ArenaTable {
  subscript(_ i: Int) -> UnsafeMutablePointer<Arena>? {
    get { arenaSlots[i].arena }
    nonmutating set { arenaSlots[i].arena = newValue }
  }
}

/// How long after a thread left an arena (arenaSpreadTarget) the threads
/// still there may not leave it: two judging windows (ArenaSpread, below:
/// 16 ms each; ArenaChoiceTests checks that the two agree). The windows
/// that judged them began while the one that left still took the arena's
/// locks; they measure again without it.
///
/// Why: bench server-churn with tcache_max:32768 (every large free then
/// takes an extent lock) has two contending workers and its idle main
/// thread on arena 0. Both workers' windows passed within 32 ms; the first
/// left for a new arena, and the second, with arena 0 still counting two
/// threads (its own and the idle one), left for another new one. The two
/// workers ran on three arenas (4 runs of 5), each mapping chunks of its
/// own: peak RSS 30.6 MiB, 21.9 with this rule (two arenas in 5 runs of
/// 5; medians of 11 interleaved runs). With the default tcache_max, quiet
/// or with both cores loaded, its peak RSS and time did not change.
let arenaSpreadSettleMs: UInt32 = 32

/// `arenaThreadCounts[i]`: the threads bound to arena i.
struct ArenaThreadCounts {
  subscript(_ i: Int) -> Int {
    get { arenaSlots[i].threads }
    nonmutating set { arenaSlots[i].threads = newValue }
  }
}

/// Empty chunks an arena keeps mapped (their pages purged by decay) before
/// unmapping further ones: bounded retained address space, and no
/// mmap/munmap/page-fault churn when big runs come and go.
let retainedEmptyChunks: UInt = 4

/// Usable pages of a chunk: all of them (its metadata is out of band).
@inline(__always) var chunkUsablePages: UInt { config.pagesPerChunk }

/// Creates arena `index` from base memory. Caller holds arenasLock.
func arenaCreate(_ index: Int) -> UnsafeMutablePointer<Arena>? {
  let binBytes = UInt(MemoryLayout<Bin>.stride &* config.smallClassCount)
  let headBytes = UInt(extentBucketCount &* 8)
  let arenaBytes = (UInt(MemoryLayout<Arena>.stride) &+ 63) & ~63
  let epochBytes = UInt(2 &* decayEpochs &* 8)
  // Page-aligned: boot writes all of it (every bin's lock and lists), and
  // its ~7 KiB then take two pages, not three (arena 0 came after the
  // arena table, whose first slot alone is touched). memtruth's
  // first_malloc 9 -> 7 pages: what follows it moved as well.
  guard let raw = baseAlloc(arenaBytes &+ binBytes &+ headBytes &+ epochBytes, alignment: pageSize) else { return nil }
  let bins = (raw + Int(arenaBytes)).bindMemory(to: Bin.self, capacity: config.smallClassCount)
  var i = 0
  while i < config.smallClassCount { (bins + i).initialize(to: Bin()); i &+= 1 }
  let heads = (raw + Int(arenaBytes &+ binBytes))
    .bindMemory(to: ExtentList.self, capacity: extentBucketCount)
  let epochs = (raw + Int(arenaBytes &+ binBytes &+ headBytes)).bindMemory(to: UInt.self, capacity: 2 &* decayEpochs)
  let a = raw.bindMemory(to: Arena.self, capacity: 1)
  a.initialize(to: Arena(freeExtents: ExtentBuckets(heads: heads), index: UInt32(index), bins: bins,
                         dirty: DecayStage(epochPages: epochs),
                         muzzy: DecayStage(epochPages: epochs + decayEpochs),
                         dirtyDecayMs: arenasDirtyDecayMs, muzzyDecayMs: arenasMuzzyDecayMs))
  arenas[index] = a
  return a
}

/// Binds the calling thread to an arena: the automatic arena with the
/// fewest threads among those that exist (arena 0 does from the boot).
/// Threads share arenas until they get in each other's way: a new arena is
/// made by arenaSpreadTarget, for a thread whose lock acquisitions cost it
/// time (its lock weight: arenaSpreadCheck), not for every new thread
/// (jemalloc's rule, which swalloc followed before: one arena per thread up
/// to narenas).
///
/// Why: an arena's free pages, partly used slabs and spare slabs serve only
/// its own threads, so each arena adds its own slack, and a block freed by
/// another arena's thread takes the remote path. With two threads on two
/// cores, sharing one arena (narenas:1) took bench server-churn's peak RSS
/// from 20.2 to 14.1 MiB and larson's from 4.8 to 4.2 (medians of 5, time
/// the same or lower); tcmalloc, one page heap for all threads behind
/// per-thread caches, shows the design scales as far as its locks are not
/// met, and arenaSpreadCheck takes threads apart where they are.
func arenaChoose() -> UnsafeMutablePointer<Arena>? {
  withLock(&arenasLock) {
    var best = -1
    var i = 0
    while i < config.autoArenaCount {
      if arenas[i] != nil && (best < 0 || arenaThreadCounts[i] < arenaThreadCounts[best]) { best = i }
      i &+= 1
    }
    // Arena 0 is made at the boot, which fails without it.
    if best < 0 { return nil }
    arenaThreadCounts[best] &+= 1
    threadsBound.wrappingAdd(1, ordering: .relaxed)
    atomicU32(&threadsLiveWord).pointee.add(1, ordering: .relaxed)
    return arenas[best]
  }
}

/// The lock weight per millisecond (Lock.swift, in units of about 100 ns:
/// 1 for a lock taken over from another thread, 4 for one found held and
/// spun on, the time slept for one slept on, 32 to 10,000) at which a
/// thread leaves its arena: about a tenth of its time spent moving lock
/// lines between cores or waiting.
let arenaSpreadWeightPerMs: UInt32 = 1000
/// The rate is measured over windows at least this long (the coarse
/// clock ticks every 4 ms)...
let arenaSpreadWindowMs: UInt32 = 16
/// ... and must hold for this many windows in a row. With one, a thread
/// moved on one holder preempted inside its critical section (a sleep of a
/// time slice): with both cores kept busy by other processes, the two
/// threads of bench server-churn and larson parted in most runs, and their
/// peak RSS rose past what an arena each from the start costs (27.7
/// against 22.4 MiB, 5.7 against 4.8), the time no better.
let arenaSpreadWindows: UInt8 = 2

/// A thread's measure of what its arena's locks cost it, kept by its
/// thread cache (arenaSpreadCheck, ThreadCache) or, for a thread without
/// one, by its UncachedThread record (Tsd.swift): windows of at least
/// arenaSpreadWindowMs over which its lock weight (swalloc_tls_lock_weight)
/// grew at arenaSpreadWeightPerMs or more are contended ones.
struct ArenaSpread {
  /// The thread's lock weight when its current window began, and when that
  /// was (ms, truncated).
  var lockWeightSeen: UInt32
  var windowMs: UInt32
  /// Contended windows in a row, up to the current one.
  var strikes: UInt8 = 0
  /// Bound by thread.arena: the thread stays on that arena.
  var pinned = false

  /// A window that begins now: locks taken before do not count.
  init(now: UInt32) {
    lockWeightSeen = swalloc_tls_lock_weight()
    windowMs = now
  }

  /// At `now` (monotonicMs, truncated): once the window is over it is
  /// judged and a new one begins; true when the thread should leave its
  /// arena (arenaSpreadTarget): arenaSpreadWindows contended windows in a
  /// row, and not pinned.
  mutating func judge(now: UInt32) -> Bool {
    if pinned { return false }
    let elapsed = now &- windowMs
    if elapsed < arenaSpreadWindowMs { return false }
    let weight = swalloc_tls_lock_weight()
    let grown = weight &- lockWeightSeen
    lockWeightSeen = weight
    windowMs = now
    if UInt64(grown) < UInt64(elapsed) &* UInt64(arenaSpreadWeightPerMs) {
      strikes = 0
      return false
    }
    strikes &+= 1
    if strikes < arenaSpreadWindows { return false }
    strikes = 0
    return true
  }
}

/// For a thread on automatic arena `own` whose locks cost it time
/// (arenaSpreadCheck, ThreadCache): an arena with at least two threads
/// fewer than `own` (so no pair of threads trades places forever), the
/// least loaded existing one, or a new one while fewer than narenas exist;
/// the thread counts moved to it. nil: stay (alone there, a created arena
/// named by thread.arena, nowhere better to go, or another thread left
/// `own` less than arenaSpreadSettleMs before `now`, monotonicMs truncated).
func arenaSpreadTarget(from own: UnsafeMutablePointer<Arena>, now: UInt32) -> UnsafeMutablePointer<Arena>? {
  withLock(&arenasLock) {
    let index = Int(own.pointee.index)
    if index >= config.autoArenaCount { return nil }
    let ownThreads = arenaThreadCounts[index]
    if ownThreads < 2 { return nil }
    let departed = arenaSlots[index].departedMs
    if departed != 0 && now &- departed < arenaSpreadSettleMs { return nil }
    var best = -1
    var firstUncreated = -1
    var i = 0
    while i < config.autoArenaCount {
      if arenas[i] == nil {
        if firstUncreated < 0 { firstUncreated = i }
      } else if i != index && arenaThreadCounts[i] &+ 2 <= ownThreads
                  && (best < 0 || arenaThreadCounts[i] < arenaThreadCounts[best]) {
        best = i
      }
      i &+= 1
    }
    if (best < 0 || arenaThreadCounts[best] != 0) && firstUncreated >= 0 && arenaCreate(firstUncreated) != nil {
      best = firstUncreated
    }
    if best < 0 { return nil }
    arenaThreadCounts[index] &-= 1
    arenaThreadCounts[best] &+= 1
    arenaSlots[index].departedMs = max(now, 1)
    threadsSpread.wrappingAdd(1, ordering: .relaxed)
    return arenas[best]
  }
}

/// Runs `attempt` on each created arena other than `own`, in index order,
/// until one succeeds. For when `own` cannot supply pages because the system
/// refused it a chunk: under memory pressure a thread should not fail while
/// other arenas still hold free space (a new thread's new arena starts with
/// none). Only called after a failure, so it costs nothing otherwise.
func arenaFallback<T>(excluding own: UnsafeMutablePointer<Arena>,
                      _ attempt: (UnsafeMutablePointer<Arena>) -> T?) -> T? {
  var i = 0
  while i < config.autoArenaCount {
    let a = withLock(&arenasLock) { arenas[i] }
    if let a, a != own, let result = attempt(a) { return result }
    i &+= 1
  }
  return nil
}

/// Arena `index`, created if it does not exist yet; nil for an index beyond
/// the arena count or when memory is exhausted.
func arenaGetOrCreate(_ index: Int) -> UnsafeMutablePointer<Arena>? {
  if index < 0 || index >= arenaCount { return nil }
  return withLock(&arenasLock) {
    if let a = arenas[index] { return a.pointee.destroyed ? nil : a }
    return arenaCreate(index)
  }
}

/// arenas.create: a new arena, used only by the threads (thread.arena) and
/// calls (MALLOCX_ARENA) that name it; a destroyed one's slot first.
func arenaCreateExplicit() -> Int? {
  withLock(&arenasLock) {
    var i = config.autoArenaCount
    while i < arenaCount {
      if let a = arenas[i], a.pointee.destroyed {
        a.pointee.destroyed = false
        return i
      }
      i &+= 1
    }
    if arenaCount >= config.arenaTableCapacity || arenaCreate(arenaCount) == nil { return nil }
    // Published after the table entry: readers go by arenaCount.
    arenaCount &+= 1
    return arenaCount &- 1
  }
}

/// arena.<i>.reset: discards every block of an arena made by arenas.create,
/// at once, as jemalloc's does: its chunks are unmapped and the arena starts
/// empty. The caller promises what jemalloc requires: no block of the arena
/// is used again, and every thread cache that took or freed its blocks was
/// flushed (the caller flushes the calling thread's first). Blocks above 2 MiB are
/// mappings of their own, not the arena's: they stay allocated.
func arenaReset(_ a: UnsafeMutablePointer<Arena>) {
  // Every bin lock, taken in a loop and released in another: explicit calls.
  var c = 0
  while c < config.smallClassCount { mutexLock(&(a.pointee.bins + c).pointee.lock); c &+= 1 }
  withLock(&a.pointee.extentLock) {
    // Every chunk of the arena: its extents tile it, each starting with a
    // page-map entry; their records go back to the arena's record cache.
    var records: UnsafeMutablePointer<Extent>? = nil
    var leafVector: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                     UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                     UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                     UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
      (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    invariant(MemoryLayout.size(ofValue: leafVector) >= pageMapLeafVectorBytes, "the leaf vector is too small")
    withUnsafeMutableBytes(of: &leafVector) { raw in
      pageMapForEachEntry(vector: raw.baseAddress.unsafelyUnwrapped.assumingMemoryBound(to: UInt8.self)) { entry in
        if entry & pageMapArenaChunkTag == 0 { return }
        let meta = UnsafeMutablePointer<ChunkMeta>(bitPattern: entry & ~pageMapArenaChunkTag).unsafelyUnwrapped
        if meta.pointee.arena != a { return }
        let chunk = meta.pointee.chunk
        var page = chunk
        while page < chunk &+ chunkSize, let e = pageEntryExtent(pageEntry(page)) {
          page = e.end
          e.pointee.next = records
          records = e
        }
        _ = pageMapSet(chunk, 0)
        chunkMetaRecycle(meta)
        unmapPages(UnsafeMutableRawPointer(bitPattern: chunk).unsafelyUnwrapped, chunkSize)
      }
    }
    // Empty again, keeping the locks (held), the tables and the settings.
    c = 0
    while c < config.smallClassCount {
      let bin = a.pointee.bins + c
      let lock = bin.pointee.lock
      bin.pointee = Bin()
      bin.pointee.lock = lock
      c &+= 1
    }
    var b = 0
    while b < extentBucketCount { a.pointee.freeExtents.heads[b] = ExtentList(); b &+= 1 }
    a.pointee.freeExtents.nonEmpty = 0
    while let e = records {
      records = e.pointee.next
      arenaRecycleRecord(a, e)
    }
    a.pointee.chunkCount = 0
    a.pointee.emptyChunkCount = 0
    a.pointee.largeBytes = 0
    a.pointee.largeCount = 0
    a.pointee.dirty = DecayStage(epochPages: a.pointee.dirty.epochPages)
    a.pointee.muzzy = DecayStage(epochPages: a.pointee.muzzy.epochPages)
    a.pointee.muzzyPagesTotal = 0
    residentChange(a, removing: a.pointee.residentPages)
    a.pointee.slabPool = SlabPool()
    a.pointee.largeCache = LargeRunCache()
  }
  c = 0
  while c < config.smallClassCount { mutexUnlock(&(a.pointee.bins + c).pointee.lock); c &+= 1 }
}

func arenaRelease(_ a: UnsafeMutablePointer<Arena>) {
  let left = withLock(&arenasLock) {
    arenaThreadCounts[Int(a.pointee.index)] &-= 1
    return atomicU32(&threadsLiveWord).pointee.subtract(1, ordering: .releasing).newValue
  }
  if left == 0 { swalloc_futex_wake_one(&threadsLiveWord) }
}

/// In a fork child, whose one thread is the one that forked: the threads
/// the parent had bound are gone, so the arenas count only the forking
/// thread's binding (`own`, nil for none), and so does threadsLiveWord.
/// (The child's arena choice and stats.threads counted the parent's other
/// threads for good, and the background thread, seeing them, outlived the
/// child's last thread: tests/concurrency fork_worker_exit.) The locks are
/// the child's own by now.
func arenaRecountInForkChild(own: UnsafeMutablePointer<Arena>?) {
  var i = 0
  while i < arenaCount {
    arenaThreadCounts[i] = 0
    i &+= 1
  }
  if let own { arenaThreadCounts[Int(own.pointee.index)] = 1 }
  atomicU32(&threadsLiveWord).pointee.store(own == nil ? 0 : 1, ordering: .relaxed)
}

/// Moves one bound thread's count from arena `from` to arena `to`
/// (thread.arena).
func arenaMoveThread(from: UnsafeMutablePointer<Arena>, to: UnsafeMutablePointer<Arena>) {
  withLock(&arenasLock) {
    arenaThreadCounts[Int(from.pointee.index)] &-= 1
    arenaThreadCounts[Int(to.pointee.index)] &+= 1
  }
}
