// Options from the environment: SWALLOC_CONF, or MALLOC_CONF when it is not
// set, in jemalloc's "key:value,key:value" syntax. Parsed at boot without
// allocating; an unknown key or bad value prints one warning and is ignored.

import CSwallocPlatform

/// The option values (README's Options table): one field per option, part
/// of the boot-once `config` (Config.swift). optionsBoot writes them, under
/// bootLock, before the allocator is marked booted; read-only after.
struct Options {
  var narenas: UInt = 0              // 0: the CPUs available to the process
  var tcache = true
  var tcacheMax: UInt = 64 << 10
  var statsPrintAtExit = false
  /// junk: fill new blocks with 0xa5 and freed ones with 0x5a (debugging).
  var junkAlloc = false
  var junkFree = false
  /// zero: every allocation is zero-filled.
  var zero = false
  /// abort_conf: a bad option aborts instead of warning.
  var abortConf = false
  /// stats_print_opts: "J" prints the report as JSON.
  var statsJSON = false
  /// Decay times (Decay.swift; arenas copy them when created).
  var dirtyDecayMs: Int = 10_000
  var muzzyDecayMs: Int = 0
  /// background_thread (Background.swift).
  var backgroundThread = false
  /// Whether `background_thread` was given (true or false) in the options.
  var backgroundThreadSet = false
  /// secure:true (Secure.swift).
  var secure = false
  /// remote_queue:true: a flush never takes another arena's bin lock; its
  /// regions always go onto that bin's remote-free stack (TcacheFill.swift).
  var remoteQueue = false
  /// thp: transparent huge pages for chunk and metadata mappings
  /// (Platform.swift, thpBoot).
  var thp = ThpSetting.never
  /// Where reports go: stderr, or the descriptor named by `stats_fd`.
  var reportFd: Int32 = 2
  /// Heap profiling (Prof.swift).
  var prof = false
  var profActiveAtStart = true
  var lgProfSample: UInt = 19
  var profFinal = false
  var profGdumpOnPeak = false
  var profLeak = false
  /// prof_prefix: nil when not given, else profPrefixText, NUL-terminated.
  var profPrefix: UnsafeMutablePointer<CChar>? = nil
  /// prof_prefix's text, copied at boot (profPrefixCapacity bytes).
  var profPrefixText: InlineArray<256, CChar> = InlineArray(repeating: 0)

  /// junk and zero need every allocation and free to pass the slow paths.
  var fillsMemory: Bool { junkAlloc || junkFree || zero }
}

/// Whether optionsBoot met a bad option. Guarded by bootLock (written and
/// read only while optionsBoot runs).
private nonisolated(unsafe) var sawBadOption = false

func keyEquals(_ key: UnsafePointer<CChar>, _ length: Int, _ name: StaticString) -> Bool {
  if length != name.utf8CodeUnitCount { return false }
  var i = 0
  while i < length {
    if UInt8(bitPattern: key[i]) != name.utf8Start[i] { return false }
    i &+= 1
  }
  return true
}

func parseBool(_ v: UnsafePointer<CChar>, _ length: Int) -> Bool? {
  if keyEquals(v, length, "true") || keyEquals(v, length, "1") { return true }
  if keyEquals(v, length, "false") || keyEquals(v, length, "0") { return false }
  return nil
}

func parseUInt(_ v: UnsafePointer<CChar>, _ length: Int) -> UInt? {
  if length == 0 || length > 19 { return nil }
  var value: UInt = 0
  var i = 0
  while i < length {
    let c = UInt8(bitPattern: v[i])
    if c < 48 || c > 57 { return nil }
    value = value &* 10 &+ UInt(c &- 48)
    i &+= 1
  }
  return value
}

private func parseInt(_ v: UnsafePointer<CChar>, _ length: Int) -> Int? {
  if length > 0 && v[0] == 45 {  // '-'
    guard let magnitude = parseUInt(v + 1, length &- 1), magnitude <= UInt(Int.max) else { return nil }
    return -Int(magnitude)
  }
  guard let magnitude = parseUInt(v, length), magnitude <= UInt(Int.max) else { return nil }
  return Int(magnitude)
}

func warn(_ what: StaticString, _ text: UnsafePointer<CChar>, _ length: Int) {
  sawBadOption = true
  writeStderr("swalloc: ")
  writeStderr(what)
  writeStderr(" '")
  _ = write(2, text, length)
  // With abort_conf:true the process is about to abort: not "ignored".
  writeStderr(config.opt.abortConf ? "'\n" : "' ignored\n")
}

/// The value of environment variable `name`, like getenv(3), which the
/// boot avoids for the libc pages it would fault in (swalloc_environ).
func environmentValue(_ name: StaticString) -> UnsafePointer<CChar>? {
  guard var entry = swalloc_environ() else { return nil }
  let n = Int(name.utf8CodeUnitCount)
  while let s = entry.pointee {
    var i = 0
    while i < n && UInt8(bitPattern: s[i]) == name.utf8Start[i] { i &+= 1 }
    if i == n && s[n] == 61 { return UnsafePointer(s + n + 1) }  // '='
    entry += 1
  }
  return nil
}

/// Reads the options: the program's `malloc_conf` string (jemalloc's
/// compiled-in options), then SWALLOC_CONF, or MALLOC_CONF when that is
/// unset; a later setting of an option wins.
func optionsBoot() {
  var env = environmentValue("SWALLOC_CONF")
  if env == nil { env = environmentValue("MALLOC_CONF") }
  let program = swalloc_program_conf()
  // abort_conf first, wherever it stands: it decides how the others' errors
  // are reported.
  let findAbortConf = { (k: UnsafePointer<CChar>, kl: Int, v: UnsafePointer<CChar>, vl: Int) in
    if keyEquals(k, kl, "abort_conf"), let b = parseBool(v, vl) { config.opt.abortConf = b }
  }
  if let s = program { forEachOption(s, reportMissingValues: false, findAbortConf) }
  if let s = env { forEachOption(s, reportMissingValues: false, findAbortConf) }
  if let s = program { forEachOption(s, reportMissingValues: true, applyOption) }
  if let s = env { forEachOption(s, reportMissingValues: true, applyOption) }
  if sawBadOption && config.opt.abortConf { fatal("invalid configuration (abort_conf:true): aborting") }
}

/// Calls `body` with each key and value of `s` ("k:v,k:v"); a key without
/// a value is reported when asked.
private func forEachOption(_ s: UnsafePointer<CChar>, reportMissingValues: Bool,
                           _ body: (UnsafePointer<CChar>, Int, UnsafePointer<CChar>, Int) -> Void) {
  var i = 0
  while s[i] != 0 {
    let keyStart = i
    while s[i] != 0 && s[i] != 58 && s[i] != 44 { i &+= 1 }   // ':' ','
    let keyLength = i &- keyStart
    if s[i] != 58 {
      if keyLength > 0 && reportMissingValues { warn("option without a value", s + keyStart, keyLength) }
      if s[i] == 44 { i &+= 1 }
      continue
    }
    i &+= 1
    let valueStart = i
    while s[i] != 0 && s[i] != 44 { i &+= 1 }
    let valueLength = i &- valueStart
    if s[i] == 44 { i &+= 1 }
    body(s + keyStart, keyLength, s + valueStart, valueLength)
  }
}

/// Bytes of Options.profPrefixText (its NUL included).
let profPrefixCapacity = 256

/// Every option, the one table: its key and how its value is read. (README's
/// Options table documents them; CtlTable.swift's opt.* names read them.)
enum OptionName: Int {
  case narenas, tcache, tcacheMax, dirtyDecayMs, muzzyDecayMs, backgroundThread, junk, secure, zero, remoteQueue, thp
  case abortConf, statsPrintOpts, statsFd, statsPrintAtExit
  case prof, profActiveAtStart, profFinal, profGdumpOnPeak, profLeak, lgProfSample, profPrefixString

  var key: StaticString {
    switch self {
    case .narenas: return "narenas"
    case .tcache: return "tcache"
    case .tcacheMax: return "tcache_max"
    case .dirtyDecayMs: return "dirty_decay_ms"
    case .muzzyDecayMs: return "muzzy_decay_ms"
    case .backgroundThread: return "background_thread"
    case .junk: return "junk"
    case .secure: return "secure"
    case .zero: return "zero"
    case .remoteQueue: return "remote_queue"
    case .thp: return "thp"
    case .abortConf: return "abort_conf"
    case .statsPrintOpts: return "stats_print_opts"
    case .statsFd: return "stats_fd"
    case .statsPrintAtExit: return "stats_print"
    case .prof: return "prof"
    case .profActiveAtStart: return "prof_active"
    case .profFinal: return "prof_final"
    case .profGdumpOnPeak: return "prof_gdump"
    case .profLeak: return "prof_leak"
    case .lgProfSample: return "lg_prof_sample"
    case .profPrefixString: return "prof_prefix"
    }
  }

  /// Reads the value text into the option; false when it is malformed or
  /// out of range (the option keeps its value).
  func apply(_ v: UnsafePointer<CChar>, _ vl: Int) -> Bool {
    switch self {
    case .narenas: return setting(parseUInt(v, vl), in: 1...4096) { config.opt.narenas = $0 }
    case .tcache: return setting(parseBool(v, vl)) { config.opt.tcache = $0 }
    case .tcacheMax: return setting(parseUInt(v, vl)) { config.opt.tcacheMax = $0 }
    case .dirtyDecayMs: return setting(parseInt(v, vl), in: -1...Int.max) { config.opt.dirtyDecayMs = $0 }
    case .muzzyDecayMs: return setting(parseInt(v, vl), in: -1...Int.max) { config.opt.muzzyDecayMs = $0 }
    case .backgroundThread:
      return setting(parseBool(v, vl)) { config.opt.backgroundThread = $0; config.opt.backgroundThreadSet = true }
    case .junk:
      // true, false, or jemalloc's "alloc" / "free" (one of the two fills).
      if keyEquals(v, vl, "alloc") { config.opt.junkAlloc = true; config.opt.junkFree = false; return true }
      if keyEquals(v, vl, "free") { config.opt.junkAlloc = false; config.opt.junkFree = true; return true }
      return setting(parseBool(v, vl)) { config.opt.junkAlloc = $0; config.opt.junkFree = $0 }
    case .secure: return setting(parseBool(v, vl)) { config.opt.secure = $0 }
    case .zero: return setting(parseBool(v, vl)) { config.opt.zero = $0 }
    case .remoteQueue: return setting(parseBool(v, vl)) { config.opt.remoteQueue = $0 }
    case .thp: return setting(ThpSetting(named: v, vl)) { config.opt.thp = $0 }
    case .abortConf: return setting(parseBool(v, vl)) { config.opt.abortConf = $0 }
    case .statsPrintOpts:
      // jemalloc's letters; "J" (JSON) is the one that changes this report.
      var i = 0
      while i < vl { if v[i] == 74 { config.opt.statsJSON = true }; i &+= 1 }
      return true
    case .statsFd:
      // The report goes to this descriptor (the swalloc tool reads it there).
      return setting(parseUInt(v, vl), in: 0...65535) { config.opt.reportFd = Int32($0) }
    case .statsPrintAtExit: return setting(parseBool(v, vl)) { config.opt.statsPrintAtExit = $0 }
    case .prof: return setting(parseBool(v, vl)) { config.opt.prof = $0 }
    case .profActiveAtStart: return setting(parseBool(v, vl)) { config.opt.profActiveAtStart = $0 }
    case .profFinal: return setting(parseBool(v, vl)) { config.opt.profFinal = $0 }
    case .profGdumpOnPeak: return setting(parseBool(v, vl)) { config.opt.profGdumpOnPeak = $0 }
    case .profLeak: return setting(parseBool(v, vl)) { config.opt.profLeak = $0 }
    case .lgProfSample: return setting(parseUInt(v, vl), in: 0...40) { config.opt.lgProfSample = $0 }
    case .profPrefixString:
      // Copied: the environment is memory the program can change.
      if vl == 0 || vl >= profPrefixCapacity { return false }
      // The text stays in static storage (config), so the pointer stays valid.
      let text = withUnsafeMutableBytes(of: &config.opt.profPrefixText) { $0.baseAddress.unsafelyUnwrapped }
        .assumingMemoryBound(to: CChar.self)
      memcpy(text, v, vl)
      text[vl] = 0
      config.opt.profPrefix = text
      return true
    }
  }
}

/// Stores a parsed value when there is one (and it lies in `range`).
@inline(__always)
private func setting<T>(_ value: T?, _ store: (T) -> Void) -> Bool {
  guard let value else { return false }
  store(value)
  return true
}

@inline(__always)
private func setting<T: Comparable>(_ value: T?, in range: ClosedRange<T>, _ store: (T) -> Void) -> Bool {
  guard let value, range.contains(value) else { return false }
  store(value)
  return true
}

private func applyOption(_ k: UnsafePointer<CChar>, _ kl: Int, _ v: UnsafePointer<CChar>, _ vl: Int) {
  var i = 0
  while let option = OptionName(rawValue: i) {
    if keyEquals(k, kl, option.key) {
      if !option.apply(v, vl) { warn("bad value for option", k, kl &+ 1 &+ vl) }
      return
    }
    i &+= 1
  }
  warn("unknown option", k, kl)
}
