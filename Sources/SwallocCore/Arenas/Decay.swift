// Decay-based purging: returning freed pages to the kernel gradually.
//
// A free page is `dirty` (freed, still resident), `muzzy` (handed back
// with MADV_FREE: the kernel may reclaim it lazily, and until then it keeps
// its old contents) or `zeroed` (fresh from mmap or purged with
// MADV_DONTNEED, which guarantees zero-fill on next touch, so calloc can
// skip its memset). The state of every free page is a bit in its chunk's
// out-of-band bitmaps (Chunk.swift), so however free extents split and
// coalesce, each one knows exactly how many of its pages are dirty and
// muzzy. (An earlier design kept one state and an estimated resident count
// per extent; coalescing a dirty extent with a clean one and splitting it
// again lost track of dirty pages, which then were never purged while the
// statistics called them returned: DecayTests.testDirtyCountMatchesThe-
// KernelThroughSplitsAndMerges saw 12 pages stay after a full purge; issue
// 11 reported 45 MiB of 1 GiB.) An extent with dirty pages is on its arena's dirty LRU list,
// one with only muzzy pages on the muzzy list, oldest first; purging
// advises the kernel on the extent's whole range.
//
// As in jemalloc, time is cut into epochs of decay_ms / 32. Every epoch
// remembers how many pages became dirty during it; a page dirtied `age`
// epochs ago is allowed to stay resident with weight 1 - smoothstep(age/32),
// so the allowed total falls smoothly to zero over decay_ms. Whenever an
// arena's dirty pages exceed the allowed total, the oldest extents are
// purged until they do not (dirty -> muzzy with MADV_FREE when
// muzzy_decay_ms is non-zero, else straight to zeroed with MADV_DONTNEED;
// muzzy pages decay the same way to zeroed).
//
// Ticks run on the allocator's own slow paths (extents freed or allocated),
// under the arena's extent lock. decay_ms 0 purges at once, -1 never
// (malloc_trim still purges everything).

import CSwallocPlatform
import Synchronization

let decayEpochs = 32

/// One decay stage (dirty or muzzy) of one arena.
/// Part of an Arena: guarded by its extentLock.
struct DecayStage {
  /// The stage's extents, oldest first.
  var lru = IntrusiveQueue<ExtentLruLinks>()
  /// Pages in this stage's extents.
  var pages: UInt = 0
  /// Ring of pages the stage grew by per epoch; `newest` indexes the
  /// current epoch.
  var epochPages: UnsafeMutablePointer<UInt>
  var newest: Int = 0
  var epochStartMs: UInt64 = 0
  /// Pages purged out of this stage, for statistics.
  var purged: UInt = 0
  /// The stage's pages after the previous tick, and the level the current
  /// epoch's growth is measured from.
  var lastLevel: UInt = 0
  var epochBase: UInt = 0
  /// The smoothstep-weighted pages of the epochs before the current one,
  /// refreshed when an epoch ends (a tick within an epoch recomputes
  /// nothing).
  var olderAllowed: UInt = 0

  init(epochPages: UnsafeMutablePointer<UInt>) {
    self.epochPages = epochPages
    epochPages.initialize(repeating: 0, count: decayEpochs)
  }

  /// Files `e` as the newest extent, with `count` pages in this stage.
  mutating func append(_ e: UnsafeMutablePointer<Extent>, _ count: UInt) {
    lru.pushBack(e)
    pages &+= count
  }

  mutating func remove(_ e: UnsafeMutablePointer<Extent>, _ count: UInt) {
    lru.remove(e)
    pages &-= count
  }

  /// One tick at `now`: moves the epoch ring forward and records the
  /// stage's growth in the current epoch as its peak above the level the
  /// epoch started from (jemalloc's rule: pages freed and taken again
  /// within an epoch count once, not at every free; counting each free
  /// let a program that churns one 100 KB block keep 10 MiB of old dirty
  /// pages for good). Returns the pages that may stay.
  mutating func tick(now: UInt64, decayMs: Int) -> UInt {
    let epochMs = UInt64(max(decayMs / decayEpochs, 1))
    if epochStartMs == 0 {
      epochStartMs = now
      epochBase = lastLevel
    } else if now >= epochStartMs &+ epochMs {
      let steps = (now &- epochStartMs) / epochMs
      var i: UInt64 = 0
      while i < min(steps, UInt64(decayEpochs)) {
        newest = (newest &+ 1) % decayEpochs
        epochPages[newest] = 0
        i &+= 1
      }
      epochStartMs &+= steps &* epochMs
      // Every change of the stage ticks at once, so what changed since the
      // previous tick changed now, in the new epoch.
      epochBase = lastLevel
      olderAllowed = allowedPages()
    }
    let growth = pages > epochBase ? pages &- epochBase : 0
    if growth > epochPages[newest] { epochPages[newest] = growth }
    return olderAllowed &+ epochPages[newest]
  }

  /// After a tick (and its purge, if `purgedNow`): the level the next tick
  /// measures from. A purge rebases the epoch's growth, so pages freed after
  /// it still count in full.
  mutating func settle(purgedNow: Bool) {
    if purgedNow { epochBase = pages > epochPages[newest] ? pages &- epochPages[newest] : 0 }
    lastLevel = pages
  }

  /// Pages the epochs before the current one allow to stay: the
  /// smoothstep-weighted sum of what each grew by.
  func allowedPages() -> UInt {
    var total: UInt = 0
    var age = 1
    while age < decayEpochs {
      let n = epochPages[(newest &- age &+ decayEpochs) % decayEpochs]
      if n != 0 {
        // x = age / 32 in 1/1024 units; h(x) = 3x^2 - 2x^3. Pages of the
        // current epoch (age 0, added by tick) keep weight 1; older than 32
        // epochs, weight 0.
        let x = UInt(age &* 1024 / decayEpochs)
        let h = (3 &* x &* x &* 1024 &- 2 &* x &* x &* x) / (1024 &* 1024)
        total &+= n &* (1024 &- min(h, 1024)) / 1024
      }
      age &+= 1
    }
    return total
  }
}

// MARK: Tracking free extents (extent lock held)

/// Files a free extent on the list of its most resident state, from its
/// exact `dirtyPages` / `muzzyPages` (which must not change until
/// decayUntrack).
func decayTrack(_ a: UnsafeMutablePointer<Arena>, _ e: UnsafeMutablePointer<Extent>) {
  let dirty = UInt(e.pointee.dirtyPages), muzzy = UInt(e.pointee.muzzyPages)
  a.pointee.muzzyPagesTotal &+= muzzy
  if dirty != 0 {
    e.pointee.contents = .dirty
    e.pointee.sinceMs = UInt32(truncatingIfNeeded: monotonicMs())
    a.pointee.dirty.append(e, dirty)
  } else if muzzy != 0 {
    e.pointee.contents = .muzzy
    a.pointee.muzzy.append(e, muzzy)
  } else {
    e.pointee.contents = .zeroed
  }
}

func decayUntrack(_ a: UnsafeMutablePointer<Arena>, _ e: UnsafeMutablePointer<Extent>) {
  a.pointee.muzzyPagesTotal &-= UInt(e.pointee.muzzyPages)
  switch e.pointee.contents {
  case .dirty: a.pointee.dirty.remove(e, UInt(e.pointee.dirtyPages))
  case .muzzy: a.pointee.muzzy.remove(e, UInt(e.pointee.muzzyPages))
  case .zeroed: break
  }
}

/// Free extent `e`, tracked, gave `dirty` dirty and `muzzy` muzzy pages
/// from its front to a run (its counts already lowered, carvePages): they
/// leave its stage, and it leaves its list when no page of that state is
/// left (to the muzzy list, newest, when muzzy pages are).
func decayLeftFront(_ a: UnsafeMutablePointer<Arena>, _ e: UnsafeMutablePointer<Extent>, dirty: UInt, muzzy: UInt) {
  a.pointee.muzzyPagesTotal &-= muzzy
  switch e.pointee.contents {
  case .dirty:
    a.pointee.dirty.pages &-= dirty
    if e.pointee.dirtyPages == 0 {
      a.pointee.dirty.remove(e, 0)
      if e.pointee.muzzyPages != 0 {
        e.pointee.contents = .muzzy
        a.pointee.muzzy.append(e, UInt(e.pointee.muzzyPages))
      } else {
        e.pointee.contents = .zeroed
      }
    }
  case .muzzy:
    // (No dirty page: it would be on the dirty list.)
    a.pointee.muzzy.pages &-= muzzy
    if e.pointee.muzzyPages == 0 {
      a.pointee.muzzy.remove(e, 0)
      e.pointee.contents = .zeroed
    }
  case .zeroed:
    break
  }
}

/// Hands a free extent's pages back to the kernel: lazily (MADV_FREE:
/// dirty pages become muzzy) or for good (MADV_DONTNEED: every page zeroed).
func purgeExtent(_ a: UnsafeMutablePointer<Arena>, _ e: UnsafeMutablePointer<Extent>, lazily: Bool) {
  let p = UnsafeMutableRawPointer(bitPattern: e.pointee.address).unsafelyUnwrapped
  let length = Int(e.pointee.pages << pageShift)
  let saved = swalloc_errno()
  let dirty = UInt(e.pointee.dirtyPages), muzzy = UInt(e.pointee.muzzyPages)
  decayUntrack(a, e)
  if lazily && dirty != 0 && madvise(p, length, MADV_FREE) == 0 {
    a.pointee.dirty.purged &+= dirty
    pageStateSet(e.pointee.address, pages: e.pointee.pages, .madeMuzzy)
    e.pointee.dirtyPages = 0
    e.pointee.muzzyPages = UInt32(truncatingIfNeeded: dirty &+ muzzy)
    decayTrack(a, e)
  } else {
    _ = madvise(p, length, MADV_DONTNEED)
    residentChange(a, removing: dirty &+ muzzy)
    a.pointee.dirty.purged &+= dirty
    a.pointee.muzzy.purged &+= muzzy
    pageStateSet(e.pointee.address, pages: e.pointee.pages, .cleared)
    e.pointee.dirtyPages = 0
    e.pointee.muzzyPages = 0
    e.pointee.contents = .zeroed
  }
  swalloc_set_errno(saved)
}

/// Purges the oldest extents of each stage down to what decay allows now.
/// One decay step of arena `index`, if it exists (the background thread,
/// mallctl arena.<i>.decay).
func decayArena(_ index: Int) {
  guard let a = withLock(&arenasLock, { arenas[index] }) else { return }
  withLock(&a.pointee.extentLock) {
    runCachesTrim(a)
    decayTick(a)
  }
}

func decayTick(_ a: UnsafeMutablePointer<Arena>) {
  if a.pointee.dirty.pages == 0 && a.pointee.muzzy.pages == 0 {
    a.pointee.dirty.lastLevel = 0
    a.pointee.muzzy.lastLevel = 0
    return
  }
  let now = monotonicMs()
  decayStage(a, dirty: true, now: now)
  decayStage(a, dirty: false, now: now)
  a.pointee.decayTickMs = now
}

/// arenaAllocPages's tick: pages only left the free store since the
/// caller's lock was taken. When the clock still reads the millisecond of
/// the arena's last full tick and neither stage grew since its last tick,
/// the full tick's outcome is known: no epoch can have ended (that tick
/// moved the ring past `now`), the stage's growth is no higher than the
/// peak it recorded, so what may stay is unchanged, and the pages, fewer
/// than after that tick, which left no more than that, need no purge. All
/// it would do is record the new levels, which is all this does
/// (DecayTests checks that such a full tick changes nothing). Bench burst
/// makes and frees a slab per 21 blocks: this leaves out the stage steps
/// of most of its allocation ticks (callgrind, `wl burst 1 0.2`: 447.9M
/// -> 444.1M instructions, where valgrind's slowness leaves fewer ticks in
/// one millisecond; CPU time `burst 1 1`, medians of 21 interleaved runs:
/// 260 -> 251 ms).
func decayTickAfterTaking(_ a: UnsafeMutablePointer<Arena>) {
  let dirtyPages = a.pointee.dirty.pages, muzzyPages = a.pointee.muzzy.pages
  if dirtyPages != 0 || muzzyPages != 0, dirtyPages <= a.pointee.dirty.lastLevel,
     muzzyPages <= a.pointee.muzzy.lastLevel, monotonicMs() == a.pointee.decayTickMs {
    // (A stage that never decays keeps the level its last step left, as decayStage does.)
    if a.pointee.dirtyDecayMs >= 0 { a.pointee.dirty.lastLevel = dirtyPages }
    if a.pointee.muzzyDecayMs >= 0 { a.pointee.muzzy.lastLevel = muzzyPages }
    return
  }
  decayTick(a)
}

private func decayStage(_ a: UnsafeMutablePointer<Arena>, dirty: Bool, now: UInt64) {
  let decayMs = dirty ? a.pointee.dirtyDecayMs : a.pointee.muzzyDecayMs
  if decayMs < 0 { return }
  // Each access of a stage is its own short one: purgeExtent changes both.
  var allowed: UInt = 0
  if decayMs != 0 {
    allowed = dirty ? a.pointee.dirty.tick(now: now, decayMs: decayMs) : a.pointee.muzzy.tick(now: now, decayMs: decayMs)
  }
  let lazily = dirty && a.pointee.muzzyDecayMs != 0
  var purgedNow = false
  while (dirty ? a.pointee.dirty.pages : a.pointee.muzzy.pages) > allowed,
        let oldest = dirty ? a.pointee.dirty.lru.first : a.pointee.muzzy.lru.first {
    purgeExtent(a, oldest, lazily: lazily)
    purgedNow = true
  }
  if dirty { a.pointee.dirty.settle(purgedNow: purgedNow) } else { a.pointee.muzzy.settle(purgedNow: purgedNow) }
}

/// What the arenas may hold resident, in pages: the sum of every arena's
/// residentPages. With the live huge blocks' and the huge cache's pages
/// (residentEstimate) an upper bound on what swalloc's data pages hold
/// resident: a page counts from the moment a run takes it fresh, touched
/// or not, until it is purged or unmapped. Atomic (relaxed): each arena
/// changes it under its extent lock; a sum across arenas.
let residentEstimatePages = Atomic<UInt>(0)
/// The most residentEstimate has been after an arena took fresh pages
/// (residentSettle): the peak makeRoom holds to. Atomic (relaxed).
let residentHighWaterPages = Atomic<UInt>(0)

/// Pages of arena `a` that were possibly resident are not any more
/// (purged, or their chunk unmapped). Extent lock held.
@inline(__always)
func residentChange(_ a: UnsafeMutablePointer<Arena>, removing pages: UInt) {
  invariant(a.pointee.residentPages >= pages, "an arena's resident page count went below zero")
  a.pointee.residentPages &-= pages
  residentEstimatePages.subtract(pages, ordering: .relaxed)
}

/// What swalloc may hold resident now, in pages (residentEstimatePages).
@inline(__always)
func residentEstimate() -> UInt {
  residentEstimatePages.load(ordering: .relaxed) &+ (hugeBytes.load(ordering: .relaxed) >> pageShift)
    &+ (hugeCacheDirtyBytes.load(ordering: .relaxed) >> pageShift)
}

/// Arena `a` (extent lock held) takes `fresh` pages it does not hold
/// resident (never touched, or purged): counts them, and returns how many
/// of them take what may be resident above its high-water mark, the
/// pages makeRoom gives back as many of. 0 below the mark.
///
/// Why the mark: making room trades page faults for peak RSS. The stale
/// dirty pages it purges are faulted in again whenever the program reuses
/// that memory, and below the peak it has already had, purging them
/// lowers no peak (decay's timer still returns them). node's churn
/// (bench/real) purged 75.8 MiB in 335 madvise calls in a 1.3 s run, each
/// a TLB shootdown across its threads, and faulted most of it in again:
/// held to the mark, 47.0K -> 41.6K page faults and 1.405 -> 1.339 s
/// (medians of 11 interleaved runs), peak RSS 126.9 -> 126.1 MiB. Bench
/// python3 21.4K -> 20.2K faults, its peak 61.7 -> 62.2 MiB (9 runs: the
/// estimate counts pages taken, not touched, so the true peak can creep
/// up to it); the other workloads' peaks the same.
@inline(__always)
func residentTake(_ a: UnsafeMutablePointer<Arena>, _ fresh: UInt) -> UInt {
  if fresh == 0 { return 0 }
  a.pointee.residentPages &+= fresh
  residentEstimatePages.add(fresh, ordering: .relaxed)
  let now = residentEstimate()
  let high = residentHighWaterPages.load(ordering: .relaxed)
  return now > high ? min(fresh, now &- high) : 0
}

/// After makeRoom gave back what it could: the high-water mark rises to
/// what may be resident now, if that is more (nothing stale to purge, or
/// too little). Racing arenas may lower it by a step; the next take that
/// finds the estimate above it raises it again.
@inline(__always)
func residentSettle() {
  let now = residentEstimate()
  if now > residentHighWaterPages.load(ordering: .relaxed) { residentHighWaterPages.store(now, ordering: .relaxed) }
}

/// Dirty pages that no run took for this long are purged, oldest first,
/// when their arena touches fresh pages (decayMakeRoom). 10 ms rather
/// than the first 50: bench python3 peak RSS 64.3 -> 63.4 MiB and sqlite3
/// 24.95 -> 24.85 MiB (7-11 interleaved runs, times the same); leak-grow
/// makes 83 madvise calls instead of 20, its time and peak the same;
/// burst, server-churn, large, aligned and mixed-lifetime the same. At
/// 200 ms python3 kept none of the gain.
let decayMakeRoomAgeMs: UInt32 = 10

/// Arena `a` is about to touch `fresh` pages it does not hold resident
/// (never touched, or purged) and would go past the high-water mark by as
/// many (residentTake): its dirty free pages that no run took for
/// decayMakeRoomAgeMs go first, oldest extent first, until as many are
/// purged or none that old is left. Extent lock held.
///
/// Why: decay keeps freed pages resident for dirty_decay_ms (10 s) so the
/// arena can reuse them, but a page run is taken from the smallest free
/// extent that holds it, and a program whose later runs are bigger than
/// the holes its frees left (sqlite3 building an index: its page cache's
/// 16-page slabs after the sort's buffers and other classes' slabs were
/// freed) touches fresh pages while the holes stay resident; a peak RSS
/// set while it grows then counts both. Bench (`bench/run.py --baseline`,
/// 5 repetitions): python3 peak RSS 64.9 -> 62.8 MiB, sqlite3 24.6 ->
/// 24.3 MiB, the times and the other workloads' peaks within noise
/// (python3 alone, 11 interleaved runs: 66.2 -> 64.3 MiB, median 0.421 ->
/// 0.429 s, fastest 0.415 -> 0.413 s; 6 more madvise calls, 3% more page
/// faults). The age keeps pages that are being reused: purging whatever
/// was oldest, whatever its age, had aligned 13.2 -> 12.1 MiB and large
/// 151 -> 143 MiB, but burst 0.207 -> 0.810 s, leak-grow 0.325 -> 0.538 s
/// and server-churn 0.070 -> 0.114 s (its peak 16.9 -> 22.0 MiB): pages
/// purged and faulted in again within milliseconds. (The huge cache gives
/// back its mappings on the same occasion: hugeCacheMakeRoom.) An
/// extent's age is that of its latest filing: one that coalesced with a
/// newly freed neighbour starts again.
func decayMakeRoom(_ a: UnsafeMutablePointer<Arena>, forPages fresh: UInt) {
  if fresh == 0 || a.pointee.dirty.pages == 0 || a.pointee.dirtyDecayMs <= 0 { return }
  let now = UInt32(truncatingIfNeeded: monotonicMs())
  var purged: UInt = 0
  while purged < fresh, let oldest = a.pointee.dirty.lru.first, now &- oldest.pointee.sinceMs >= decayMakeRoomAgeMs {
    purged &+= UInt(oldest.pointee.dirtyPages)
    purgeExtent(a, oldest, lazily: a.pointee.muzzyDecayMs != 0)
  }
  if purged != 0 { a.pointee.dirty.settle(purgedNow: true) }
}

/// Purges every dirty and muzzy page of the arena now (malloc_trim).
/// Returns the number of pages handed back.
func arenaPurgeAll(_ a: UnsafeMutablePointer<Arena>) -> UInt {
  runCachesEmpty(a)
  var purged: UInt = 0
  while let e = a.pointee.dirty.lru.first {
    purged &+= UInt(e.pointee.dirtyPages) &+ UInt(e.pointee.muzzyPages)
    purgeExtent(a, e, lazily: false)
  }
  while let e = a.pointee.muzzy.lru.first { purged &+= UInt(e.pointee.muzzyPages); purgeExtent(a, e, lazily: false) }
  a.pointee.dirty.settle(purgedNow: true)
  a.pointee.muzzy.settle(purgedNow: true)
  return purged
}
