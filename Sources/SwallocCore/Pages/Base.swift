// The base allocator: metadata memory (arenas, extent descriptors, tcaches,
// page-map leaves) carved from mmap'd blocks with a bump pointer. It never
// calls malloc and never gives memory back; callers recycle what they free
// through their own free lists.

struct Base {
  var cursor: UInt = 0
  var end: UInt = 0
  /// Bytes mapped for metadata, for statistics.
  var mapped: UInt = 0
  /// Bytes handed out.
  var allocated: UInt = 0
}

/// Guarded by baseLock.
nonisolated(unsafe) var base = Base()

/// Every mapping the base allocator made (address, size), so the resident
/// figure can ask the kernel about them (Stats.swift): log blocks linked
/// through word 0, word 1 the entry count, word 2 the block's capacity in
/// entries, then the pairs. A log block is cut from the current base
/// block when it has room (baseLogBlockWords, baseCut), else it is a page
/// of its own: the first one shares the first base block's first page,
/// which every process touches, where it was a page of its own
/// (memtruth's first_malloc: 10 -> 9 pages). Guarded by baseLock.
nonisolated(unsafe) var baseMappingLog: UnsafeMutablePointer<UInt>? = nil

/// Words of a log block carved from a base block: 16 entries.
let baseLogBlockWords: UInt = 3 &+ 2 &* 16

private func baseLogMapping(_ address: UInt, _ size: UInt) {
  if baseMappingLog == nil || baseMappingLog.unsafelyUnwrapped[1] == baseMappingLog.unsafelyUnwrapped[2] {
    let block: UnsafeMutablePointer<UInt>
    var ownPage = false
    if let carved = baseCut(baseLogBlockWords &* 8, alignment: 64) {
      block = carved.bindMemory(to: UInt.self, capacity: Int(baseLogBlockWords))
      block[2] = (baseLogBlockWords &- 3) / 2
    } else {
      guard let raw = mapPages(pageSize) else { return }  // unlogged: counted as not resident
      block = raw.bindMemory(to: UInt.self, capacity: Int(pageSize >> 3))
      block[2] = ((pageSize >> 3) &- 3) / 2
      base.mapped &+= pageSize
      ownPage = true
    }
    block[0] = UInt(bitPattern: baseMappingLog)
    block[1] = 0
    baseMappingLog = block
    // A page of its own is a mapping like any other.
    if ownPage { baseLogMapping(UInt(bitPattern: block), pageSize) }
  }
  let page = baseMappingLog.unsafelyUnwrapped
  let n = Int(page[1])
  page[3 &+ 2 &* n] = address
  page[4 &+ 2 &* n] = size
  page[1] = UInt(n &+ 1)
}

/// Calls `body(address, size)` for every base mapping; baseLock held.
func baseForEachMapping(_ body: (UInt, UInt) -> Void) {
  var page = baseMappingLog
  while let p = page {
    var i = 0
    while i < Int(p[1]) { body(p[3 &+ 2 &* i], p[4 &+ 2 &* i]); i &+= 1 }
    page = UnsafeMutablePointer<UInt>(bitPattern: p[0])
  }
}
// The lock is a global of its own, not a field of `base`: a write to
// base.cursor is a Swift access of the whole of `base`, and with the lock word
// inside it that access would overlap other threads' compare-exchange on the
// lock (an exclusivity violation ThreadSanitizer reports).
nonisolated(unsafe) var baseLock = Mutex()

let baseBlockSize: UInt = 256 << 10

/// Returns `size` bytes of zeroed memory aligned to `alignment` (power of two,
/// at most a page), or nil when the system refuses memory.
func baseAlloc(_ size: UInt, alignment: UInt = 64) -> UnsafeMutableRawPointer? {
  withLock(&baseLock) {
    if let p = baseCut(size, alignment: alignment) { return p }
    // Big requests get their own mapping; the current block keeps its tail.
    let blockSize = size > baseBlockSize / 4 ? roundUpToPage(size) : baseBlockSize
    guard let block = mapPages(blockSize) else { return nil }
    adviseHugePages(block, blockSize, config.thpAdviceChunks)
    base.mapped &+= blockSize
    if blockSize != baseBlockSize {
      baseLogMapping(UInt(bitPattern: block), blockSize)
      base.allocated &+= size
      return block
    }
    base.cursor = UInt(bitPattern: block)
    base.end = base.cursor &+ blockSize
    // Logged once it is the current block: a new log block may be cut from
    // its start. What is left holds the request (at most a quarter block).
    baseLogMapping(UInt(bitPattern: block), blockSize)
    return baseCut(size, alignment: alignment)
  }
}

/// `size` bytes at `alignment` from the current base block, or nil when
/// there is none or it has no room left. baseLock held.
private func baseCut(_ size: UInt, alignment: UInt) -> UnsafeMutableRawPointer? {
  let start = (base.cursor &+ alignment &- 1) & ~(alignment &- 1)
  if base.cursor == 0 || start &+ size > base.end { return nil }
  base.cursor = start &+ size
  base.allocated &+= size
  return UnsafeMutableRawPointer(bitPattern: start)
}

/// A LIFO of recycled fixed-size metadata records, linked through their first
/// word. Like `base`, each list is a global guarded by a separate global lock;
/// both are reached through pointers so no Swift access of the list spans the
/// wait for its lock. Guarded by that lock.
struct RecycleList {
  var head: UnsafeMutableRawPointer? = nil
}

func recyclePop(_ list: UnsafeMutablePointer<RecycleList>, _ lock: UnsafeMutablePointer<Mutex>) -> UnsafeMutableRawPointer? {
  withLock(lock) {
    let r = list.pointee.head
    if let r { list.pointee.head = r.load(as: UnsafeMutableRawPointer?.self) }
    return r
  }
}

func recyclePush(_ list: UnsafeMutablePointer<RecycleList>, _ lock: UnsafeMutablePointer<Mutex>, _ p: UnsafeMutableRawPointer) {
  withLock(lock) {
    p.storeBytes(of: list.pointee.head, as: UnsafeMutableRawPointer?.self)
    list.pointee.head = p
  }
}
