import XCTest
@testable import SwallocCore
#if canImport(Glibc)
import Glibc
#endif

/// The whole allocator, driven through the twin's swalloc_ entry points (a
/// heap separate from the test process's own malloc).
final class AllocatorTests: XCTestCase {
  func testSizesAlignmentAndUsableSize() {
    var pointers: [UnsafeMutableRawPointer] = []
    var size: UInt = 0
    while size < 3 << 20 {
      let p = swallocMalloc(size)!
      XCTAssertEqual(UInt(bitPattern: p) % 16, 0)
      let usable = swallocMallocUsableSize(p)
      XCTAssertGreaterThanOrEqual(usable, max(size, 1))
      memset(p, 0xA5, Int(usable))
      pointers.append(p)
      size = size < 1024 ? size + 1 : size * 9 / 8
    }
    XCTAssertEqual(Set(pointers).count, pointers.count)
    for p in pointers { swallocFree(p) }
  }

  func testCallocZeroesReusedMemory() {
    for size: UInt in [24, 1000, 20_000, 100_000, 3 << 20] {
      var dirty: [UnsafeMutableRawPointer] = []
      for _ in 0..<64 { let p = swallocMalloc(size)!; memset(p, 0xFF, Int(size)); dirty.append(p) }
      for p in dirty { swallocFree(p) }
      for _ in 0..<64 {
        let p = swallocCalloc(1, size)!.assumingMemoryBound(to: UInt8.self)
        for i in 0..<Int(size) where p[i] != 0 { XCTFail("calloc(\(size)) byte \(i) not zero"); break }
        swallocFree(p)
      }
    }
  }

  func testOverflowAndHugeRequestsFailWithENOMEM() {
    errno = 0
    XCTAssertNil(swallocMalloc(UInt(Int.max) + 1))
    XCTAssertEqual(errno, ENOMEM)
    errno = 0
    XCTAssertNil(swallocCalloc(UInt.max / 2, 3))
    XCTAssertEqual(errno, ENOMEM)
    errno = 0
    XCTAssertNil(swallocReallocarray(nil, UInt.max / 2, 3))
    XCTAssertEqual(errno, ENOMEM)
  }

  func testAlignmentUpToOneGiB() {
    var alignment: UInt = 8
    while alignment <= 1 << 30 {
      for size: UInt in [1, 100, alignment + 1] {
        var p: UnsafeMutableRawPointer? = nil
        XCTAssertEqual(swallocPosixMemalign(&p, alignment, size), 0, "alignment \(alignment)")
        XCTAssertEqual(UInt(bitPattern: p!) % alignment, 0)
        memset(p!, 1, Int(size))
        swallocFree(p)
      }
      alignment <<= 1
    }
    var p: UnsafeMutableRawPointer? = nil
    XCTAssertEqual(swallocPosixMemalign(&p, 24, 10), EINVAL)
    XCTAssertEqual(swallocPosixMemalign(&p, 4, 10), EINVAL)
    XCTAssertNil(p)
  }

  func testReallocPreservesContentAcrossClasses() {
    var p = swallocMalloc(1)!
    var size: UInt = 1
    p.storeBytes(of: 7, as: UInt8.self)
    var pattern: UInt8 = 7
    while size < 8 << 20 {
      let next = size * 3 / 2 + 1
      p = swallocRealloc(p, next)!
      let bytes = p.assumingMemoryBound(to: UInt8.self)
      for i in stride(from: 0, to: Int(size), by: 97) where bytes[i] != pattern {
        XCTFail("lost byte \(i) growing \(size) -> \(next)"); break
      }
      pattern &+= 1
      memset(p, Int32(pattern), Int(next))
      size = next
    }
    while size > 1 {
      size = max(size / 3, 1)
      p = swallocRealloc(p, size)!
      XCTAssertEqual(p.load(as: UInt8.self), pattern)
    }
    swallocFree(p)
  }

  /// realloc keeps a block in place exactly when the new size has the
  /// block's class (its in-place test compares with the class's bounds
  /// rather than classifying the size), and otherwise lands in the new
  /// size's class: checked at every small class's edges.
  func testReallocStaysInPlaceOnlyWithinTheClass() {
    var c = 0
    while c < config.smallClassCount {
      let size = sizeClassSize(c)
      let below: UInt = c == 0 ? 0 : sizeClassSize(c - 1)
      for n in [below + 1, size - 1, size] where n >= 1 {
        let p = swallocMalloc(size)!
        let q = swallocRealloc(p, n)!
        XCTAssertEqual(q, p, "realloc(\(size)-byte block, \(n)) moved")
        swallocFree(q)
      }
      for n in [below, size + 1] where n >= 1 && n <= lookupMaxSize {
        let p = swallocMalloc(size)!
        let q = swallocRealloc(p, n)!
        XCTAssertNotEqual(q, p, "realloc(\(size)-byte block, \(n)) stayed in place")
        XCTAssertEqual(swallocMallocUsableSize(q), sizeClassSize(classIndexFor(n)))
        swallocFree(q)
      }
      c += 1
    }
  }

  func testCrossThreadFreesAndThreadExit() {
    let threads = 4
    let perThread = 20_000
    nonisolated(unsafe) var blocks = [[UInt]](repeating: [], count: threads)
    let lock = NSLock()
    runJoinedThreads(threads) { t in
      var mine: [UInt] = []
      for i in 0..<perThread {
        let size = UInt((i * 37 + t * 11) % 700 + 1)
        let p = swallocMalloc(size)!
        p.storeBytes(of: UInt8(truncatingIfNeeded: t), as: UInt8.self)
        mine.append(UInt(bitPattern: p))
      }
      lock.lock(); blocks[t] = mine; lock.unlock()
    }
    // Each block is freed by a thread other than the one that allocated it.
    runJoinedThreads(threads) { t in
      let victim = (t + 1) % threads
      for address in blocks[victim] {
        let p = UnsafeMutableRawPointer(bitPattern: address)!
        XCTAssertEqual(p.load(as: UInt8.self), UInt8(victim))
        swallocFree(p)
      }
    }
  }

  /// Threads allocate blocks of every kind (small, large, huge) and hand them
  /// through a shared mailbox to whichever thread comes next, which checks the
  /// stamp and frees or reallocs them: remote frees race with the owner's own
  /// allocations, and each round's threads exit with blocks still live (their
  /// tcaches are recycled while others free into their slabs). The point of
  /// the test is as much the sanitizer runs (tests/sanitize/) as the checks.
  func testConcurrentHandOffOfEveryKindOfBlock() {
    let threads = 4
    let rounds = 3
    let perThread = 6_000
    let mailboxSize = 256
    nonisolated(unsafe) var mailbox = [UInt](repeating: 0, count: mailboxSize)
    nonisolated(unsafe) var mismatches = 0
    let lock = NSLock()
    for round in 0..<rounds {
      runJoinedThreads(threads) { t in
        var seed = UInt64(round * 131 + t * 7 + 1)
        for i in 0..<perThread {
          seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17
          let pick = seed % 1000
          let size: UInt = pick < 900 ? UInt(seed >> 20) % 1024 + 1
            : pick < 995 ? UInt(seed >> 20) % (256 << 10) + 4097
            : UInt(seed >> 20) % (4 << 20) + (3 << 20)
          let p = swallocMalloc(size)!
          // Stamp: the size in the first word, so the receiver can check it.
          p.storeBytes(of: size, as: UInt.self)
          lock.lock()
          let slot = (i &* 31 &+ t) % mailboxSize
          let previous = mailbox[slot]
          mailbox[slot] = UInt(bitPattern: p)
          lock.unlock()
          guard previous != 0, let q = UnsafeMutableRawPointer(bitPattern: previous) else { continue }
          let stamped = q.load(as: UInt.self)
          if swallocMallocUsableSize(q) < stamped {
            lock.lock(); mismatches += 1; lock.unlock()
          }
          if pick & 1 == 0 {
            swallocFree(q)
          } else {
            // realloc of a block another thread allocated: moves or resizes
            // in place, always keeps the stamp.
            let r = swallocRealloc(q, stamped / 2 + 8)!
            if r.load(as: UInt.self) != stamped { lock.lock(); mismatches += 1; lock.unlock() }
            swallocFree(r)
          }
        }
      }
    }
    for address in mailbox where address != 0 {
      swallocFree(UnsafeMutableRawPointer(bitPattern: address))
    }
    XCTAssertEqual(mismatches, 0)
  }
}
