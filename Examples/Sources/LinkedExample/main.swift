// Linked with -lswalloc: this process's malloc is swalloc's. Swalloc()
// checks that (it throws "this process does not use swalloc: ..." when
// malloc is another allocator's); the figures below are swalloc's own.
import Swalloc
#if canImport(Glibc)
import Glibc
#endif

do {
  let swalloc = try Swalloc()
  let before = try swalloc.statistics()
  // Swift arrays allocate through malloc (the Swift runtime calls it).
  let blocks = (0..<1000).map { [UInt8](repeating: UInt8($0 & 0xff), count: 4000 + $0) }
  let during = try swalloc.statistics()
  print("swalloc \(try swalloc.version()) is this process's allocator")
  print("allocated before: \(before.allocated) bytes, holding \(blocks.count) arrays: \(during.allocated) bytes")
  if during.allocated - before.allocated < 4_000_000 {
    print("error: the arrays' 4 MB did not go through swalloc")
    exit(1)
  }
} catch {
  print("error: \(error)")
  exit(1)
}
