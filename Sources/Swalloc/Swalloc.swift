// A Swift API over swalloc's C control interface, for Swift programs that
// run with the library (linked, or preloaded with LD_PRELOAD): typed
// statistics, options and actions instead of mallctl's untyped buffers.
//
//   let swalloc = try Swalloc()              // the allocator this process uses
//   let stats = try swalloc.statistics()     // allocated, active, resident, mapped...
//   try swalloc.purge()                      // every arena, now
//
// `Swalloc(library:)` opens a given libswalloc.so privately (RTLD_LOCAL),
// which only inspects that copy: useful for tools and tests.
//
// This module imports only the C library (no Foundation, no package
// dependency): depending on the `Swalloc` product builds nothing else.

#if canImport(Glibc)
import Glibc
#endif

extension Swalloc {
  /// Why a call failed: the process does not use swalloc, a library could
  /// not be opened, or a mallctl name was refused (its errno).
  public struct Error: Swift.Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
      /// This process's malloc is not swalloc's (Swalloc()).
      case notInThisProcess
      /// dlopen or dlsym of a library failed (Swalloc(library:)).
      case libraryUnavailable
      /// mallctl returned an error for `name`.
      case mallctl
    }
    public let kind: Kind
    /// The mallctl name, or the library's path.
    public let name: String
    /// The errno value (ENOENT when the process or library lacks swalloc).
    public let code: Int32
    /// dlerror()'s text, when a library failed to load.
    public let detail: String?

    public var description: String {
      switch kind {
      case .notInThisProcess:
        return "this process does not use swalloc: load libswalloc.so with LD_PRELOAD or link it (-lswalloc)"
      case .libraryUnavailable:
        return "swalloc: cannot use \(name): \(detail ?? String(cString: strerror(code)))"
      case .mallctl:
        return "swalloc: mallctl(\"\(name)\") failed: \(String(cString: strerror(code)))"
      }
    }

    public init(kind: Kind, name: String, code: Int32, detail: String? = nil) {
      self.kind = kind
      self.name = name
      self.code = code
      self.detail = detail
    }

    /// A mallctl failure.
    public init(name: String, code: Int32) { self.init(kind: .mallctl, name: name, code: code) }
  }

  /// The allocator's totals (mallctl stats.*).
  public struct Statistics: Equatable, Sendable {
    /// Bytes in blocks handed out (blocks in thread caches count as handed out).
    public var allocated: Int
    /// Bytes in pages that hold allocations (slabs, large runs, huge blocks).
    public var active: Int
    /// Bytes resident: active pages, dirty and muzzy free pages, cached huge
    /// mappings and metadata.
    public var resident: Int
    /// Bytes mapped from the system.
    public var mapped: Int
    /// Bytes of mapped chunk space neither in use nor resident.
    public var retained: Int
  }

  /// The calling thread's running totals (usable bytes; they wrap, as
  /// jemalloc's thread.allocated / thread.deallocated do).
  public struct ThreadCounters: Equatable, Sendable {
    public var allocated: UInt64
    public var deallocated: UInt64
  }

  /// The options in effect (mallctl opt.*).
  public struct Options: Equatable, Sendable {
    public var arenas: Int
    public var threadCache: Bool
    public var threadCacheMax: Int
    public var dirtyDecayMilliseconds: Int
    public var muzzyDecayMilliseconds: Int
    public var backgroundThread: Bool
    public var statsPrint: Bool
  }

  // The module and this type share the name `Swalloc`, so `Swalloc.X`
  // always means a member of this type; the module's earlier top-level
  // names are members too, so `Swalloc.SwallocStatistics` compiles.
  public typealias SwallocError = Error
  public typealias SwallocStatistics = Statistics
  public typealias SwallocThreadCounters = ThreadCounters
  public typealias SwallocOptions = Options
}

public typealias SwallocError = Swalloc.Error
public typealias SwallocStatistics = Swalloc.Statistics
public typealias SwallocThreadCounters = Swalloc.ThreadCounters
public typealias SwallocOptions = Swalloc.Options

public struct Swalloc {
  private typealias Ctl = @convention(c) (UnsafePointer<CChar>?, UnsafeMutableRawPointer?, UnsafeMutablePointer<Int>?,
                                          UnsafeMutableRawPointer?, Int) -> Int32
  private typealias WriteCallback = @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> Void
  private typealias StatsPrint = @convention(c) (WriteCallback?, UnsafeMutableRawPointer?, UnsafePointer<CChar>?) -> Void
  private let ctl: Ctl
  private let statsPrint: StatsPrint

  /// The swalloc this process allocates with; throws Error.notInThisProcess
  /// ("this process does not use swalloc: ...") when the process's malloc
  /// is not swalloc's (no library, or one opened privately).
  public init() throws {
    let process = UnsafeMutableRawPointer(bitPattern: 0)  // RTLD_DEFAULT
    guard let symbol = dlsym(process, "swalloc_mallctl"), let print = dlsym(process, "swalloc_malloc_stats_print"),
          let malloc = dlsym(process, "malloc"), let free = dlsym(process, "free") else {
      throw Error(kind: .notInThisProcess, name: "malloc", code: ENOENT)
    }
    ctl = unsafeBitCast(symbol, to: Ctl.self)
    statsPrint = unsafeBitCast(print, to: StatsPrint.self)
    // The process's malloc is this library's when a block it hands out shows
    // in the library's own count of the thread's allocations. (Comparing
    // addresses does not work: malloc aliases the Swift function that
    // swalloc_malloc's thunk jumps to, not swalloc_malloc itself.)
    typealias Malloc = @convention(c) (Int) -> UnsafeMutableRawPointer?
    typealias Free = @convention(c) (UnsafeMutableRawPointer?) -> Void
    let before = try? read("thread.allocated", UInt64.self)
    let block = unsafeBitCast(malloc, to: Malloc.self)(64)
    let after = try? read("thread.allocated", UInt64.self)
    unsafeBitCast(free, to: Free.self)(block)
    guard block != nil, let before, let after, after != before else {
      throw Error(kind: .notInThisProcess, name: "malloc", code: ENOENT)
    }
  }

  /// The statistics report malloc_stats prints (text), or the JSON object
  /// of stats_print_opts:J, as a string (through malloc_stats_print).
  public func report(json: Bool = false) -> String {
    final class Collector { var bytes: [UInt8] = [] }
    let collector = Collector()
    let context = Unmanaged.passUnretained(collector).toOpaque()
    withExtendedLifetime(collector) {
      statsPrint({ context, piece in
        guard let context, let piece else { return }
        let collector = Unmanaged<Collector>.fromOpaque(context).takeUnretainedValue()
        collector.bytes.append(contentsOf: UnsafeRawBufferPointer(start: piece, count: strlen(piece)))
      }, context, json ? "J" : "")
    }
    return String(decoding: collector.bytes, as: UTF8.self)
  }

  /// A private copy of the library at `path` (RTLD_LOCAL: it does not
  /// replace this process's malloc).
  public init(library path: String) throws {
    guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
      throw Error(kind: .libraryUnavailable, name: path, code: ENOENT, detail: dlerror().map { String(cString: $0) })
    }
    guard let symbol = dlsym(handle, "swalloc_mallctl"), let print = dlsym(handle, "swalloc_malloc_stats_print") else {
      throw Error(kind: .libraryUnavailable, name: path, code: ENOENT, detail: "not a swalloc library (no swalloc_mallctl)")
    }
    ctl = unsafeBitCast(symbol, to: Ctl.self)
    statsPrint = unsafeBitCast(print, to: StatsPrint.self)
  }

  fileprivate func read<T>(_ name: String, _ type: T.Type) throws -> T {
    let value = UnsafeMutablePointer<T>.allocate(capacity: 1)
    defer { value.deallocate() }
    var length = MemoryLayout<T>.size
    let rc = name.withCString { ctl($0, value, &length, nil, 0) }
    if rc != 0 { throw Error(name: name, code: rc) }
    return value.pointee
  }

  fileprivate func write<T>(_ name: String, _ value: T) throws {
    var v = value
    let rc = name.withCString { ctl($0, nil, nil, &v, MemoryLayout<T>.size) }
    if rc != 0 { throw Error(name: name, code: rc) }
  }

  fileprivate func act(_ name: String) throws {
    let rc = name.withCString { ctl($0, nil, nil, nil, 0) }
    if rc != 0 { throw Error(name: name, code: rc) }
  }

  public func version() throws -> String { String(cString: try read("version", UnsafePointer<CChar>.self)) }

  public func statistics() throws -> Statistics {
    Statistics(allocated: try read("stats.allocated", Int.self), active: try read("stats.active", Int.self),
                      resident: try read("stats.resident", Int.self), mapped: try read("stats.mapped", Int.self),
                      retained: try read("stats.retained", Int.self))
  }

  /// Bytes the calling thread has allocated and freed so far; the
  /// difference of two readings measures what a piece of code allocates.
  public func threadCounters() throws -> ThreadCounters {
    ThreadCounters(allocated: try read("thread.allocated", UInt64.self),
                          deallocated: try read("thread.deallocated", UInt64.self))
  }

  public func options() throws -> Options {
    Options(arenas: Int(try read("opt.narenas", UInt32.self)), threadCache: try read("opt.tcache", Bool.self),
                   threadCacheMax: try read("opt.tcache_max", Int.self),
                   dirtyDecayMilliseconds: try read("opt.dirty_decay_ms", Int.self),
                   muzzyDecayMilliseconds: try read("opt.muzzy_decay_ms", Int.self),
                   backgroundThread: try read("opt.background_thread", Bool.self),
                   statsPrint: try read("opt.stats_print", Bool.self))
  }

  /// The size classes served from slabs, smallest first.
  public func smallSizeClasses() throws -> [Int] {
    var sizes: [Int] = []
    while true {
      do { sizes.append(try read("arenas.bin.\(sizes.count).size", Int.self)) } catch { break }
    }
    return sizes
  }

  /// Returns every purgeable page of `arena` (all arenas when nil) now.
  public func purge(arena: Int? = nil) throws { try act("arena.\(arena ?? 4096).purge") }

  /// Returns the calling thread's cached blocks to their arenas. Throws
  /// (EFAULT) for a thread without a cache (tcache:false, or
  /// threadCacheEnabled set false), as jemalloc's thread.tcache.flush.
  public func flushThreadCache() throws { try act("thread.tcache.flush") }

  /// Whether the calling thread caches blocks; setting false returns its
  /// cache, true lets its next allocation build a new one.
  public func threadCacheEnabled() throws -> Bool { try read("thread.tcache.enabled", Bool.self) }
  public func setThreadCacheEnabled(_ enabled: Bool) throws { try write("thread.tcache.enabled", enabled) }

  /// The calling thread's arena; setting it moves the thread's next refills
  /// and large allocations to that arena (0 ..< options().arenas).
  public func threadArena() throws -> Int { Int(try read("thread.arena", UInt32.self)) }
  public func setThreadArena(_ arena: Int) throws { try write("thread.arena", UInt32(truncatingIfNeeded: arena)) }

  /// One decay step now for `arena` (all arenas when nil): purges what the
  /// decay curve allows.
  public func decay(arena: Int? = nil) throws { try act("arena.\(arena ?? 4096).decay") }

  /// The heap profiler (jemalloc's prof.* controls): activate and
  /// deactivate sampling, reset it, write a profile, e.g. from a signal
  /// handler's thread or an admin endpoint of a server. Needs the process
  /// started with prof:true (SWALLOC_CONF or MALLOC_CONF); otherwise
  /// `isAvailable()` is false and the other calls throw.
  public var profile: Profile { Profile(swalloc: self) }

  public struct Profile {
    fileprivate let swalloc: Swalloc

    /// Whether the process started with prof:true (opt.prof).
    public func isAvailable() throws -> Bool { try swalloc.read("opt.prof", Bool.self) }

    /// Whether allocations are being sampled now (prof.active).
    public func isActive() throws -> Bool { try swalloc.read("prof.active", Bool.self) }

    /// Starts or stops sampling; blocks sampled so far stay in the profile
    /// until they are freed (prof.active).
    public func setActive(_ active: Bool) throws { try swalloc.write("prof.active", active) }

    /// The mean number of bytes between two samples, 2^lg_prof_sample.
    public func samplePeriod() throws -> Int { 1 << (try swalloc.read("prof.lg_sample", Int.self)) }

    /// Forgets every sample taken so far; with `lgSample`, samples every
    /// 2^lgSample bytes from now on (prof.reset).
    public func reset(lgSample: Int? = nil) throws {
      if let lgSample { try swalloc.write("prof.reset", lgSample) } else { try swalloc.act("prof.reset") }
    }

    /// Writes the live heap's profile (jemalloc's heap_v2 text, read by
    /// jeprof, pprof and `swalloc prof`) to `path`, or to
    /// PREFIX.PID.SEQ.heap (prof_prefix) when nil (prof.dump).
    public func dump(to path: String? = nil) throws {
      guard let path else { try swalloc.act("prof.dump"); return }
      try path.withCString { try swalloc.write("prof.dump", $0) }
    }
  }
}
