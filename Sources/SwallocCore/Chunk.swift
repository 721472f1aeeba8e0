// Arena chunks: naturally aligned 4 MiB regions. The first pages hold the
// chunk header and a per-page map; the rest is carved into page runs
// (extents) for slabs and large allocations.
//
// Page-map entry (one UInt per page):
//   bits 0..47   address of the Extent record covering the page (0: none)
//   bits 48..63  size class + 1 when the page starts a large allocation or
//                belongs to a slab; 0 for free extents and for the last page
//                of a large run (so a pointer into it is never taken as a
//                valid allocation).
// Entries are kept for every page of a slab (any region may be freed), and
// for the first and last page of large runs and free extents (the last page
// lets a freed neighbour find this extent to coalesce with it).

struct ChunkHeader {
  var arena: UnsafeMutablePointer<Arena>
}

/// Byte offset of the page map inside a chunk.
let chunkPageMapOffset = 64
/// Pages per chunk and pages taken by the header, set at boot.
var pagesPerChunk: UInt = 1024
var chunkHeaderPages: UInt = 3

let pageEntryAddressMask: UInt = (1 << 48) &- 1
let pageEntryClassShift: UInt = 48

@inline(__always)
func chunkPageMap(_ chunk: UInt) -> UnsafeMutablePointer<UInt> {
  UnsafeMutablePointer<UInt>(bitPattern: chunk &+ UInt(chunkPageMapOffset)).unsafelyUnwrapped
}

@inline(__always)
func chunkHeader(_ chunk: UInt) -> UnsafeMutablePointer<ChunkHeader> {
  UnsafeMutablePointer<ChunkHeader>(bitPattern: chunk).unsafelyUnwrapped
}

@inline(__always)
func pageIndexInChunk(_ address: UInt) -> UInt { (address & chunkMask) &>> pageShift }

@inline(__always)
func makePageEntry(_ extent: UnsafeMutablePointer<Extent>, classPlusOne: UInt) -> UInt {
  UInt(bitPattern: extent) | (classPlusOne << pageEntryClassShift)
}

@inline(__always)
func pageEntryExtent(_ entry: UInt) -> UnsafeMutablePointer<Extent>? {
  UnsafeMutablePointer<Extent>(bitPattern: entry & pageEntryAddressMask)
}

func chunkGeometryBoot() {
  pagesPerChunk = chunkSize >> pageShift
  let headerBytes = UInt(chunkPageMapOffset) &+ pagesPerChunk &* 8
  chunkHeaderPages = (headerBytes &+ pageMask) >> pageShift
}
