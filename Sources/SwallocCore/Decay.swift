// Decay-based purging: returning freed pages to the kernel gradually.
//
// A free extent's pages are `dirty` (freed, still resident), `muzzy`
// (handed back with MADV_FREE: the kernel may reclaim them lazily, and
// until then they keep their old contents) or `zeroed` (fresh from mmap or
// purged with MADV_DONTNEED, which guarantees zero-fill on next touch, so
// calloc can skip its memset). Each arena keeps its dirty and muzzy extents
// in LRU lists, oldest first.
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

enum PageContents: UInt8 {
  case zeroed = 0
  case dirty = 1
  case muzzy = 2

  /// The contents of two free extents merged into one.
  func merged(with other: PageContents) -> PageContents {
    if self == .dirty || other == .dirty { return .dirty }
    if self == .muzzy || other == .muzzy { return .muzzy }
    return .zeroed
  }
}

let decayEpochs = 32

var optDirtyDecayMs: Int = 10_000
var optMuzzyDecayMs: Int = 0

/// One decay stage (dirty or muzzy) of one arena.
struct DecayStage {
  var lruHead: UnsafeMutablePointer<Extent>? = nil
  var lruTail: UnsafeMutablePointer<Extent>? = nil
  /// Pages in this stage's extents.
  var pages: UInt = 0
  /// Ring of pages that entered the stage per epoch; `newest` indexes the
  /// current epoch.
  var epochPages: UnsafeMutablePointer<UInt>
  var newest: Int = 0
  var epochStartMs: UInt64 = 0
  /// Pages purged out of this stage, for statistics.
  var purged: UInt = 0
  /// allowedPages() as of the current epoch (pages added during the epoch
  /// count with weight 1), so a tick within an epoch needs no recompute.
  var allowedCache: UInt = 0

  init(epochPages: UnsafeMutablePointer<UInt>) {
    self.epochPages = epochPages
    epochPages.initialize(repeating: 0, count: decayEpochs)
  }

  mutating func append(_ e: UnsafeMutablePointer<Extent>) {
    e.pointee.lruNext = nil
    e.pointee.lruPrev = lruTail
    if let t = lruTail { t.pointee.lruNext = e } else { lruHead = e }
    lruTail = e
    pages &+= e.pointee.residentPages
  }

  mutating func remove(_ e: UnsafeMutablePointer<Extent>) {
    if let p = e.pointee.lruPrev { p.pointee.lruNext = e.pointee.lruNext } else { lruHead = e.pointee.lruNext }
    if let n = e.pointee.lruNext { n.pointee.lruPrev = e.pointee.lruPrev } else { lruTail = e.pointee.lruPrev }
    e.pointee.lruNext = nil
    e.pointee.lruPrev = nil
    pages &-= e.pointee.residentPages
  }

  /// Counts pages entering the stage in the current epoch.
  mutating func addToCurrentEpoch(_ pages: UInt) {
    epochPages[newest] &+= pages
    allowedCache &+= pages
  }

  /// Moves the epoch ring forward to `now`, refreshing `allowedCache` when
  /// an epoch ends.
  mutating func advance(now: UInt64, decayMs: Int) {
    let epochMs = UInt64(max(decayMs / decayEpochs, 1))
    if epochStartMs == 0 { epochStartMs = now; allowedCache = allowedPages(); return }
    if now < epochStartMs &+ epochMs { return }
    let steps = (now &- epochStartMs) / epochMs
    var i: UInt64 = 0
    while i < min(steps, UInt64(decayEpochs)) {
      newest = (newest &+ 1) % decayEpochs
      epochPages[newest] = 0
      i &+= 1
    }
    epochStartMs &+= steps &* epochMs
    allowedCache = allowedPages()
  }

  /// Pages allowed to stay in this stage now: the smoothstep-weighted sum of
  /// what each epoch added.
  func allowedPages() -> UInt {
    var total: UInt = 0
    var age = 0
    while age < decayEpochs {
      let n = epochPages[(newest &- age &+ decayEpochs) % decayEpochs]
      if n != 0 {
        // x = age / 32 in 1/1024 units; h(x) = 3x^2 - 2x^3. Pages of the
        // current epoch keep weight 1; older than 32 epochs, weight 0.
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

/// Files a free extent under its contents' stage (by its `residentPages`).
/// `newPages` of it just became dirty (freed now), as opposed to being
/// split or merged.
func decayTrack(_ a: UnsafeMutablePointer<Arena>, _ e: UnsafeMutablePointer<Extent>, newPages: UInt) {
  switch e.pointee.contents {
  case .dirty:
    a.pointee.dirty.append(e)
    a.pointee.dirty.addToCurrentEpoch(newPages)
  case .muzzy:
    a.pointee.muzzy.append(e)
  case .zeroed:
    break
  }
}

func decayUntrack(_ a: UnsafeMutablePointer<Arena>, _ e: UnsafeMutablePointer<Extent>) {
  switch e.pointee.contents {
  case .dirty: a.pointee.dirty.remove(e)
  case .muzzy: a.pointee.muzzy.remove(e)
  case .zeroed: break
  }
}

/// Hands an extent's pages back to the kernel: lazily (MADV_FREE, to muzzy)
/// or for good (MADV_DONTNEED, to zeroed).
func purgeExtent(_ a: UnsafeMutablePointer<Arena>, _ e: UnsafeMutablePointer<Extent>, lazily: Bool) {
  let p = UnsafeMutableRawPointer(bitPattern: e.pointee.address).unsafelyUnwrapped
  let length = Int(e.pointee.pages << pageShift)
  let saved = swalloc_errno()
  let resident = e.pointee.residentPages
  if e.pointee.contents == .dirty { a.pointee.dirty.purged &+= resident }
  else if e.pointee.contents == .muzzy { a.pointee.muzzy.purged &+= resident }
  decayUntrack(a, e)
  if lazily && madvise(p, length, MADV_FREE) == 0 {
    e.pointee.contents = .muzzy
    decayTrack(a, e, newPages: 0)
    a.pointee.muzzy.addToCurrentEpoch(resident)
  } else {
    _ = madvise(p, length, MADV_DONTNEED)
    e.pointee.contents = .zeroed
    e.pointee.residentPages = 0
  }
  swalloc_set_errno(saved)
}

/// Purges the oldest extents of each stage down to what decay allows now.
/// One decay step of arena `index`, if it exists (the background thread,
/// mallctl arena.<i>.decay).
func decayArena(_ index: Int) {
  mutexLock(&arenasLock)
  let arena = arenas[index]
  mutexUnlock(&arenasLock)
  guard let a = arena else { return }
  mutexLock(&a.pointee.extentLock)
  decayTick(a)
  mutexUnlock(&a.pointee.extentLock)
}

func decayTick(_ a: UnsafeMutablePointer<Arena>) {
  if a.pointee.dirty.pages == 0 && a.pointee.muzzy.pages == 0 { return }
  let now = swalloc_monotonic_ms()
  decayStage(a, dirty: true, now: now)
  decayStage(a, dirty: false, now: now)
}

private func decayStage(_ a: UnsafeMutablePointer<Arena>, dirty: Bool, now: UInt64) {
  let decayMs = dirty ? optDirtyDecayMs : optMuzzyDecayMs
  if decayMs < 0 { return }
  let allowed: UInt
  if decayMs == 0 {
    allowed = 0
  } else if dirty {
    a.pointee.dirty.advance(now: now, decayMs: decayMs)
    allowed = a.pointee.dirty.allowedCache
  } else {
    a.pointee.muzzy.advance(now: now, decayMs: decayMs)
    allowed = a.pointee.muzzy.allowedCache
  }
  let lazily = dirty && optMuzzyDecayMs != 0
  while true {
    let stagePages = dirty ? a.pointee.dirty.pages : a.pointee.muzzy.pages
    if stagePages <= allowed { break }
    guard let oldest = dirty ? a.pointee.dirty.lruHead : a.pointee.muzzy.lruHead else { break }
    purgeExtent(a, oldest, lazily: lazily)
  }
}

/// Purges every dirty and muzzy page of the arena now (malloc_trim).
/// Returns the number of pages handed back.
func arenaPurgeAll(_ a: UnsafeMutablePointer<Arena>) -> UInt {
  var purged: UInt = 0
  while let e = a.pointee.dirty.lruHead { purged &+= e.pointee.residentPages; purgeExtent(a, e, lazily: false) }
  while let e = a.pointee.muzzy.lruHead { purged &+= e.pointee.residentPages; purgeExtent(a, e, lazily: false) }
  return purged
}
