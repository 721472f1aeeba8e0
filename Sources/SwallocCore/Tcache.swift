// Thread caches: per-thread stacks of free regions, one per size class up to
// `tcache_max` (small classes and the smallest large classes). A hit pops or
// pushes one pointer without any lock or atomic; a miss fills half the stack
// from the arena bin under one lock, and a full stack flushes its older half
// back to the owning arenas, grouped so each bin lock is taken once per group.

struct TcacheBin {
  var count: UInt32 = 0
  var capacity: UInt32 = 0
  var stack: UnsafeMutablePointer<UnsafeMutableRawPointer?>
}

struct Tcache {
  var arena: UnsafeMutablePointer<Arena>
  var nextRecycled: UnsafeMutablePointer<Tcache>? = nil
}

/// TcacheBin records start this far into a Tcache block.
let tcacheBinsOffset = 64
/// Size classes cached per thread (classes below this index), set at boot.
var tcacheClassCount = 0
/// Bytes of one Tcache block including its stacks, set at boot.
var tcacheBlockSize: UInt = 0
/// Stack capacity of each cached class (base memory, set at boot).
var tcacheCapacities: UnsafeMutablePointer<UInt32> = UnsafeMutablePointer(bitPattern: 64)!

var tcacheRecycle = RecycleList()

@inline(__always)
func tcacheBin(_ t: UnsafeMutablePointer<Tcache>, _ sizeClass: Int) -> UnsafeMutablePointer<TcacheBin> {
  (UnsafeMutableRawPointer(t) + tcacheBinsOffset).assumingMemoryBound(to: TcacheBin.self) + sizeClass
}

/// Computes the cached classes and stack sizes from `tcacheMaxBytes`.
func tcacheBoot(maxBytes: UInt, memory: UnsafeMutableRawPointer) {
  tcacheCapacities = memory.bindMemory(to: UInt32.self, capacity: classCount)
  tcacheClassCount = maxBytes == 0 ? 0 : min(classIndexFor(min(maxBytes, largeMaxClass)) &+ 1, classCount)
  var stackSlots: UInt = 0
  var c = 0
  while c < tcacheClassCount {
    var capacity: UInt32 = 20
    if c < smallClassCount {
      capacity = min(max(binInfos[c].regionCount &* 2, 20), 200)
    }
    tcacheCapacities[c] = capacity
    stackSlots &+= UInt(capacity)
    c &+= 1
  }
  tcacheBlockSize = UInt(tcacheBinsOffset) &+ UInt(MemoryLayout<TcacheBin>.stride &* tcacheClassCount) &+ stackSlots &* 8
}

func tcacheCreate(arena: UnsafeMutablePointer<Arena>) -> UnsafeMutablePointer<Tcache>? {
  var raw = tcacheRecycle.pop()
  if raw == nil { raw = baseAlloc(tcacheBlockSize, alignment: 64) }
  guard let raw else { return nil }
  let t = raw.bindMemory(to: Tcache.self, capacity: 1)
  t.initialize(to: Tcache(arena: arena))
  var stack = (raw + tcacheBinsOffset + MemoryLayout<TcacheBin>.stride &* tcacheClassCount)
    .bindMemory(to: UnsafeMutableRawPointer?.self, capacity: 1)
  var c = 0
  while c < tcacheClassCount {
    let capacity = tcacheCapacities[c]
    tcacheBin(t, c).initialize(to: TcacheBin(count: 0, capacity: capacity, stack: stack))
    stack += Int(capacity)
    c &+= 1
  }
  return t
}

/// Returns every cached region to its arena and the block to the recycle list.
func tcacheDestroy(_ t: UnsafeMutablePointer<Tcache>) {
  var c = 0
  while c < tcacheClassCount {
    tcacheFlush(t, sizeClass: c, keep: 0)
    c &+= 1
  }
  arenaRelease(t.pointee.arena)
  tcacheRecycle.push(UnsafeMutableRawPointer(t))
}

/// Refills an empty small-class stack from the arena; returns a region, or
/// nil when memory is exhausted.
func tcacheRefillAndPop(_ t: UnsafeMutablePointer<Tcache>, sizeClass: Int) -> UnsafeMutableRawPointer? {
  let bin = tcacheBin(t, sizeClass)
  let want = Int(bin.pointee.capacity >> 1)
  let got = binFill(t.pointee.arena, sizeClass: sizeClass, into: bin.pointee.stack, want: max(want, 1))
  if got == 0 { return nil }
  bin.pointee.count = UInt32(got &- 1)
  return bin.pointee.stack[got &- 1]
}

/// Flushes all but the `keep` most recently freed entries of one stack.
func tcacheFlush(_ t: UnsafeMutablePointer<Tcache>, sizeClass: Int, keep: Int) {
  let bin = tcacheBin(t, sizeClass)
  let count = Int(bin.pointee.count)
  if count <= keep { return }
  let flushCount = count &- keep
  let items = bin.pointee.stack
  if sizeClass < smallClassCount {
    flushSmall(items, count: flushCount, sizeClass: sizeClass)
  } else {
    var i = 0
    while i < flushCount {
      let address = UInt(bitPattern: items[i])
      let extent = pageEntryExtent(pageEntry(address)).unsafelyUnwrapped
      arenaFreeLarge(chunkHeader(address & ~chunkMask).pointee.arena, extent)
      i &+= 1
    }
  }
  // Slide the kept (most recent) entries to the bottom of the stack.
  var i = 0
  while i < keep { items[i] = items[flushCount &+ i]; i &+= 1 }
  bin.pointee.count = UInt32(keep)
}

/// Returns `count` regions of one small class to their arenas' bins. Regions
/// of the first region's arena are freed under one bin lock; the rest are
/// compacted to the front and handled in the next round.
private func flushSmall(_ items: UnsafeMutablePointer<UnsafeMutableRawPointer?>, count: Int, sizeClass: Int) {
  var remaining = count
  while remaining > 0 {
    let arena = chunkHeader(UInt(bitPattern: items[0]) & ~chunkMask).pointee.arena
    let bin = arena.pointee.bins + sizeClass
    mutexLock(&bin.pointee.lock)
    var kept = 0
    var i = 0
    while i < remaining {
      let address = UInt(bitPattern: items[i])
      if chunkHeader(address & ~chunkMask).pointee.arena == arena {
        let slab = pageEntryExtent(pageEntry(address)).unsafelyUnwrapped
        binFreeLocked(arena, bin, slab, address: address)
      } else {
        items[kept] = items[i]
        kept &+= 1
      }
      i &+= 1
    }
    mutexUnlock(&bin.pointee.lock)
    remaining = kept
  }
}
