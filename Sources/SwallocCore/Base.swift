// The base allocator: metadata memory (arenas, extent descriptors, tcaches,
// page-map leaves) carved from mmap'd blocks with a bump pointer. It never
// calls malloc and never gives memory back; callers recycle what they free
// through their own free lists.

struct Base {
  var lock = Mutex()
  var cursor: UInt = 0
  var end: UInt = 0
  /// Bytes mapped for metadata, for statistics.
  var mapped: UInt = 0
  /// Bytes handed out.
  var allocated: UInt = 0
}

var base = Base()

let baseBlockSize: UInt = 256 << 10

/// Returns `size` bytes of zeroed memory aligned to `alignment` (power of two,
/// at most a page), or nil when the system refuses memory.
func baseAlloc(_ size: UInt, alignment: UInt = 64) -> UnsafeMutableRawPointer? {
  mutexLock(&base.lock)
  defer { mutexUnlock(&base.lock) }
  var start = (base.cursor &+ alignment &- 1) & ~(alignment &- 1)
  if base.cursor == 0 || start &+ size > base.end {
    // Big requests get their own mapping; the current block keeps its tail.
    let blockSize = size > baseBlockSize / 4 ? roundUpToPage(size) : baseBlockSize
    guard let block = mapPages(blockSize) else { return nil }
    base.mapped &+= blockSize
    if blockSize != baseBlockSize {
      base.allocated &+= size
      return block
    }
    base.cursor = UInt(bitPattern: block)
    base.end = base.cursor &+ blockSize
    start = base.cursor
  }
  base.cursor = start &+ size
  base.allocated &+= size
  return UnsafeMutableRawPointer(bitPattern: start)
}

/// A lock-protected LIFO of recycled fixed-size metadata records, linked
/// through their first word.
struct RecycleList {
  var lock = Mutex()
  var head: UnsafeMutableRawPointer? = nil

  mutating func pop() -> UnsafeMutableRawPointer? {
    mutexLock(&lock)
    let r = head
    if let r { head = r.load(as: UnsafeMutableRawPointer?.self) }
    mutexUnlock(&lock)
    return r
  }

  mutating func push(_ p: UnsafeMutableRawPointer) {
    mutexLock(&lock)
    p.storeBytes(of: head, as: UnsafeMutableRawPointer?.self)
    head = p
    mutexUnlock(&lock)
  }
}
