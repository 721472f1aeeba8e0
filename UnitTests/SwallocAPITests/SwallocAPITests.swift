import XCTest
import Swalloc
#if canImport(Glibc)
import Glibc
#endif

/// The Swift API against the built library, loaded privately (RTLD_LOCAL):
/// scripts/test.sh builds .build/release/libswalloc.so before the tests.
final class SwallocAPITests: XCTestCase {
  static let libraryPath: String = {
    if let env = ProcessInfo.processInfo.environment["SWALLOC_LIB"] { return env }
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    return root.appendingPathComponent(".build/release/libswalloc.so").path
  }()

  /// The version from its one source, Sources/SwallocCore/Platform/Version.swift.
  static let sourceVersion: String = {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let text = (try? String(contentsOf: root.appendingPathComponent("Sources/SwallocCore/Platform/Version.swift"), encoding: .utf8)) ?? ""
    let line = text.split(separator: "\n").first { $0.hasPrefix("let swallocVersion") } ?? ""
    return line.split(separator: "\"").dropFirst().first.map(String.init) ?? "missing"
  }()

  func library() throws -> Swalloc {
    guard FileManager.default.fileExists(atPath: Self.libraryPath) else {
      XCTFail("\(Self.libraryPath) is missing: build it with scripts/build-lib.sh (scripts/test.sh does)")
      throw SwallocError(name: Self.libraryPath, code: ENOENT)
    }
    return try Swalloc(library: Self.libraryPath)
  }

  func testTypedStatisticsFollowAllocations() throws {
    let swalloc = try library()
    let handle = dlopen(Self.libraryPath, RTLD_NOW | RTLD_LOCAL)
    typealias Malloc = @convention(c) (Int) -> UnsafeMutableRawPointer?
    typealias Free = @convention(c) (UnsafeMutableRawPointer?) -> Void
    let malloc = unsafeBitCast(dlsym(handle, "swalloc_malloc")!, to: Malloc.self)
    let free = unsafeBitCast(dlsym(handle, "swalloc_free")!, to: Free.self)
    typealias UsableSize = @convention(c) (UnsafeMutableRawPointer?) -> Int
    let usableSize = unsafeBitCast(dlsym(handle, "swalloc_malloc_usable_size")!, to: UsableSize.self)

    let before = try swalloc.statistics()
    let threadBefore = try swalloc.threadCounters()
    // Written: stats.resident is what the kernel holds, and untouched pages are not resident.
    let blocks = (0..<100).map { _ in memset(malloc(50_000)!, 1, 50_000)! }
    let during = try swalloc.statistics()
    let threadDuring = try swalloc.threadCounters()
    let usable = UInt64(usableSize(blocks[0]))
    XCTAssertGreaterThanOrEqual(usable, 50_000)
    XCTAssertEqual(threadDuring.allocated - threadBefore.allocated, 100 * usable)
    XCTAssertEqual(threadDuring.deallocated, threadBefore.deallocated)
    XCTAssertGreaterThanOrEqual(during.allocated - before.allocated, 100 * 50_000)
    XCTAssertGreaterThanOrEqual(during.active, during.allocated - 4096 * 100)
    XCTAssertGreaterThanOrEqual(during.mapped, during.active)
    blocks.forEach { free($0) }
    XCTAssertEqual(try swalloc.threadCounters().deallocated - threadDuring.deallocated, 100 * usable)
    try swalloc.flushThreadCache()
    try swalloc.purge()
    let after = try swalloc.statistics()
    XCTAssertLessThan(after.allocated, during.allocated)
    XCTAssertLessThan(after.resident, during.resident, "purge returned the freed pages")
  }

  func testReportThroughMallocStatsPrint() throws {
    let swalloc = try library()
    let text = swalloc.report()
    XCTAssertTrue(text.hasPrefix("___ swalloc statistics ___\n"), text)
    XCTAssertTrue(text.contains("regs/slab"))
    let json = swalloc.report(json: true)
    XCTAssertTrue(json.hasPrefix("{\"swalloc\": {\"version\": \"\(Self.sourceVersion)\""), json)
    XCTAssertTrue(json.hasSuffix("}}\n"))
    let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
    let body = object?["swalloc"] as? [String: Any]
    XCTAssertNotNil(body?["allocated"] as? Int, "the JSON parses and has the totals")
  }

  func testThreadArenaAndCacheControls() throws {
    let swalloc = try library()
    XCTAssertGreaterThan(try swalloc.options().arenas, 0)
    // The arenas there are (arenas.narenas): opt.narenas defaults to the
    // CPUs the process may run on, one on a one-CPU machine, where the
    // test makes a second to move the thread to (arenas.create).
    let handle = try XCTUnwrap(dlopen(Self.libraryPath, RTLD_NOW | RTLD_LOCAL))
    defer { dlclose(handle) }
    typealias Ctl = @convention(c) (UnsafePointer<CChar>?, UnsafeMutableRawPointer?, UnsafeMutablePointer<Int>?,
                                    UnsafeMutableRawPointer?, Int) -> Int32
    let ctl = unsafeBitCast(dlsym(handle, "swalloc_mallctl")!, to: Ctl.self)
    func arenaCount() -> Int {
      var n: UInt32 = 0
      var length = MemoryLayout<UInt32>.size
      XCTAssertEqual(ctl("arenas.narenas", &n, &length, nil, 0), 0)
      return Int(n)
    }
    var arenas = arenaCount()
    if arenas < 2 {
      var index: UInt32 = 0
      var length = MemoryLayout<UInt32>.size
      XCTAssertEqual(ctl("arenas.create", &index, &length, nil, 0), 0)
      arenas = arenaCount()
    }
    XCTAssertGreaterThan(arenas, 1)
    let start = try swalloc.threadArena()
    let target = (start + 1) % arenas
    try swalloc.setThreadArena(target)
    XCTAssertEqual(try swalloc.threadArena(), target)
    XCTAssertThrowsError(try swalloc.setThreadArena(arenas), "past arenas.narenas")
    try swalloc.setThreadArena(start)
    XCTAssertTrue(try swalloc.threadCacheEnabled())
    try swalloc.setThreadCacheEnabled(false)
    XCTAssertFalse(try swalloc.threadCacheEnabled())
    try swalloc.setThreadCacheEnabled(true)
    XCTAssertTrue(try swalloc.threadCacheEnabled())
    try swalloc.decay()
    try swalloc.decay(arena: 0)
  }

  func testOptionsVersionAndSizeClasses() throws {
    let swalloc = try library()
    XCTAssertEqual(try swalloc.version(), Self.sourceVersion)
    let options = try swalloc.options()
    XCTAssertGreaterThan(options.arenas, 0)
    if ProcessInfo.processInfo.environment["SWALLOC_CONF"] == nil && ProcessInfo.processInfo.environment["MALLOC_CONF"] == nil {
      XCTAssertEqual(options.dirtyDecayMilliseconds, 10_000)
      XCTAssertTrue(options.threadCache)
    }
    let classes = try swalloc.smallSizeClasses()
    XCTAssertEqual(Array(classes.prefix(9)), [16, 32, 48, 64, 80, 96, 112, 128, 160])
    XCTAssertEqual(classes.last, 15360)
    XCTAssertThrowsError(try swalloc.purge(arena: 100_000))
  }

  func testProfileControls() throws {
    // Without prof:true the profiler is absent and says so.
    let plain = try library()
    if ProcessInfo.processInfo.environment["SWALLOC_CONF"] == nil && ProcessInfo.processInfo.environment["MALLOC_CONF"] == nil {
      XCTAssertFalse(try plain.profile.isAvailable())
      XCTAssertThrowsError(try plain.profile.setActive(true))
      XCTAssertThrowsError(try plain.profile.dump(to: "/tmp/never.heap"))
    }
    // A second private copy (another file, so another load), booted with
    // prof:true from the environment its constructor reads.
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("swalloc-api-prof-\(getpid())")
    try? FileManager.default.removeItem(at: directory)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let copy = directory.appendingPathComponent("libswalloc-prof.so").path
    try FileManager.default.copyItem(atPath: Self.libraryPath, toPath: copy)
    let saved = getenv("SWALLOC_CONF").map { String(cString: $0) }
    setenv("SWALLOC_CONF", "prof:true,lg_prof_sample:14", 1)
    let profiled = try Swalloc(library: copy)
    if let saved { setenv("SWALLOC_CONF", saved, 1) } else { unsetenv("SWALLOC_CONF") }
    let profile = profiled.profile
    XCTAssertTrue(try profile.isAvailable())
    XCTAssertTrue(try profile.isActive())
    XCTAssertEqual(try profile.samplePeriod(), 16384)
    try profile.setActive(false)
    XCTAssertFalse(try profile.isActive())
    try profile.setActive(true)
    try profile.reset(lgSample: 12)
    XCTAssertEqual(try profile.samplePeriod(), 4096)
    let heap = directory.appendingPathComponent("api.heap").path
    try profile.dump(to: heap)
    let text = try String(contentsOfFile: heap, encoding: .utf8)
    XCTAssertTrue(text.hasPrefix("heap_v2/4096"), String(text.prefix(80)))
    XCTAssertTrue(text.contains("MAPPED_LIBRARIES:"))
  }

  func testErrorsSayWhatIsWrong() throws {
    // This test process allocates with glibc (the library is only opened
    // privately above), so it does not use swalloc.
    if dlsym(UnsafeMutableRawPointer(bitPattern: 0), "swalloc_malloc") == nil {
      XCTAssertThrowsError(try Swalloc()) { error in
        XCTAssertEqual("\(error)", "this process does not use swalloc: load libswalloc.so with LD_PRELOAD or link it (-lswalloc)")
        XCTAssertEqual((error as? Swalloc.Error)?.kind, .notInThisProcess)
      }
    }
    XCTAssertThrowsError(try Swalloc(library: "/nonexistent/libswalloc.so")) { error in
      XCTAssertEqual((error as? Swalloc.Error)?.kind, .libraryUnavailable)
      XCTAssertTrue("\(error)".hasPrefix("swalloc: cannot use /nonexistent/libswalloc.so: "), "\(error)")
    }
    XCTAssertThrowsError(try library().purge(arena: 100_000)) { error in
      XCTAssertEqual("\(error)", "swalloc: mallctl(\"arena.100000.purge\") failed: \(String(cString: strerror(ENOENT)))")
    }
  }

  func testTypeNamesQualifiedByTheModuleName() throws {
    // `Swalloc` names both the module and its main type: every name reads
    // as a member of the type, the old top-level names included.
    let statistics: Swalloc.SwallocStatistics = try library().statistics()
    let same: Swalloc.Statistics = statistics
    let unqualified: SwallocStatistics = same
    XCTAssertEqual(unqualified, statistics)
    let options: Swalloc.SwallocOptions = try library().options()
    XCTAssertEqual(options, try library().options() as Swalloc.Options)
    let counters: Swalloc.SwallocThreadCounters = try library().threadCounters()
    XCTAssertGreaterThanOrEqual(counters.allocated, 0)
    let error: Swalloc.SwallocError = Swalloc.Error(name: "x", code: EINVAL)
    XCTAssertEqual(error, SwallocError(name: "x", code: EINVAL))
  }
}
