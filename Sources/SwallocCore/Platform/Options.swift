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
  /// lg_prof_interval: a dump per about 2^N bytes allocated; -1: none.
  var lgProfInterval: Int = -1
  var profFinal = false
  var profGdumpOnPeak = false
  var profLeak = false
  /// prof_prefix: nil when not given, else profPrefixText, NUL-terminated.
  var profPrefix: UnsafeMutablePointer<CChar>? = nil
  /// prof_prefix's text, copied at boot (profPrefixCapacity bytes).
  var profPrefixText: InlineArray<256, CChar> = InlineArray(repeating: 0)
  /// zero_realloc: what realloc(p, 0) does (Posix.swift, reallocRest).
  var zeroRealloc = ZeroRealloc.free
  /// confirm_conf: each option string and each option set is printed.
  var confirmConf = false

  /// junk and zero need every allocation and free to pass the slow paths.
  var fillsMemory: Bool { junkAlloc || junkFree || zero }
}

/// An option whose value is one of a few words (thp, zero_realloc): its
/// cases, numbered from 0, each with its word.
protocol NamedSetting: RawRepresentable where RawValue == UInt8 {
  var name: StaticString { get }
}

extension NamedSetting {
  /// The setting named by the `length` characters at `text`, nil for none.
  init?(named text: UnsafePointer<CChar>, _ length: Int) {
    var i: UInt8 = 0
    while let setting = Self(rawValue: i) {
      if keyEquals(text, length, setting.name) { self = setting; return }
      i &+= 1
    }
    return nil
  }
}

/// jemalloc's zero_realloc: realloc(p, 0) frees p and returns NULL
/// (glibc's and jemalloc's default), is realloc(p, 1) ("alloc": a block of
/// the smallest class comes back), or aborts.
enum ZeroRealloc: UInt8, NamedSetting {
  case free, alloc, abort

  var name: StaticString {
    switch self {
    case .free: return "free"
    case .alloc: return "alloc"
    case .abort: return "abort"
    }
  }
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
  // A setuid or setgid program (AT_SECURE: its environment is its caller's)
  // reads neither variable, as glibc ignores its MALLOC_ variables there
  // and jemalloc its MALLOC_CONF (secure_getenv). Else whoever runs it
  // could have it write heap profiles under a path of their choosing
  // (prof_prefix, prof_final) or the statistics into any descriptor it
  // holds (stats_fd), with its privileges, or turn its checks off. The
  // program's own malloc_conf string is its own and still read.
  var env: UnsafePointer<CChar>? = nil
  var envName: StaticString = "SWALLOC_CONF"
  if getauxval(UInt(AT_SECURE)) == 0 {
    env = environmentValue("SWALLOC_CONF")
    if env == nil {
      env = environmentValue("MALLOC_CONF")
      envName = "MALLOC_CONF"
    }
  }
  let program = swalloc_program_conf()
  // abort_conf first, wherever it stands: it decides how the others' errors
  // are reported; confirm_conf too: it decides whether they are printed.
  let findFirst = { (k: UnsafePointer<CChar>, kl: Int, v: UnsafePointer<CChar>, vl: Int) in
    if keyEquals(k, kl, "abort_conf"), let b = parseBool(v, vl) { config.opt.abortConf = b }
    if keyEquals(k, kl, "confirm_conf"), let b = parseBool(v, vl) { config.opt.confirmConf = b }
  }
  let programLength = program.map { forEachOption($0, reportMissingValues: false, findFirst) } ?? 0
  let envLength = env.map { forEachOption($0, reportMissingValues: false, findFirst) } ?? 0
  if let s = program {
    confirmSource("malloc_conf", s, programLength)
    forEachOption(s, reportMissingValues: true, applyOption)
  }
  if let s = env {
    confirmSource(envName, s, envLength)
    forEachOption(s, reportMissingValues: true, applyOption)
  }
  if sawBadOption && config.opt.abortConf { fatal("invalid configuration (abort_conf:true): aborting") }
}

/// confirm_conf: names an option string before its options are read, as
/// jemalloc's `malloc_conf #N (source): "..."` lines do.
private func confirmSource(_ source: StaticString, _ s: UnsafePointer<CChar>, _ length: Int) {
  if !config.opt.confirmConf { return }
  writeStderr("swalloc: ")
  writeStderr(source)
  writeStderr(": \"")
  _ = write(2, s, length)
  writeStderr("\"\n")
}

/// confirm_conf: an option that was set, as jemalloc's `-- Set conf value`.
private func confirmSet(_ text: UnsafePointer<CChar>, _ length: Int) {
  if !config.opt.confirmConf { return }
  writeStderr("swalloc: -- Set conf value: ")
  _ = write(2, text, length)
  writeStderr("\n")
}

/// Calls `body` with each key and value of `s` ("k:v,k:v"); a key without
/// a value is reported when asked. Returns the length of `s`.
@discardableResult
private func forEachOption(_ s: UnsafePointer<CChar>, reportMissingValues: Bool,
                           _ body: (UnsafePointer<CChar>, Int, UnsafePointer<CChar>, Int) -> Void) -> Int {
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
  return i
}

/// Bytes of Options.profPrefixText (its NUL included).
let profPrefixCapacity = 256

/// Every option, the one table: its key and how its value is read. (README's
/// Options table documents them; CtlTable.swift's opt.* names read them.)
enum OptionName: Int {
  case narenas, tcache, tcacheMax, dirtyDecayMs, muzzyDecayMs, backgroundThread, junk, secure, zero, remoteQueue, thp
  case abortConf, statsPrintOpts, statsFd, statsPrintAtExit
  case prof, profActiveAtStart, profFinal, profGdumpOnPeak, profLeak, lgProfSample, profPrefixString
  case lgTcacheMax, zeroRealloc, confirmConf, abort, maxBackgroundThreads, lgProfInterval

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
    case .lgTcacheMax: return "lg_tcache_max"
    case .zeroRealloc: return "zero_realloc"
    case .confirmConf: return "confirm_conf"
    case .abort: return "abort"
    case .maxBackgroundThreads: return "max_background_threads"
    case .lgProfInterval: return "lg_prof_interval"
    }
  }

  /// Reads the value text into the option; false when it is malformed or
  /// out of range (the option keeps its value).
  func apply(_ v: UnsafePointer<CChar>, _ vl: Int) -> Bool {
    switch self {
    case .narenas: return setting(parseUInt(v, vl), in: 1...4096) { config.opt.narenas = $0 }
    case .tcache: return setting(parseBool(v, vl)) { config.opt.tcache = $0 }
    case .tcacheMax:
      // Clipped to the largest class a thread may cache, as jemalloc clips
      // it to its own limit: opt.tcache_max reads what is in effect.
      return setting(parseUInt(v, vl)) { config.opt.tcacheMax = min($0, largeMaxClass) }
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
    case .lgTcacheMax:
      // jemalloc 5.2's name for tcache_max, which 5.3 still reads: 2^N
      // bytes, clipped as tcache_max is (a negative N too, as jemalloc
      // reads it).
      guard let lg = parseInt(v, vl) else { return false }
      config.opt.tcacheMax = lg < 0 || lg > 62 ? largeMaxClass : min(UInt(1) << UInt(lg), largeMaxClass)
      return true
    case .zeroRealloc: return setting(ZeroRealloc(named: v, vl)) { config.opt.zeroRealloc = $0 }
    case .confirmConf: return setting(parseBool(v, vl)) { config.opt.confirmConf = $0 }
    case .abort:
      // jemalloc's abort-on-warning. swalloc's errors always abort and its
      // only warnings are the options' (abort_conf): either value is read
      // and changes nothing (opt.abort reads true).
      return parseBool(v, vl) != nil
    case .maxBackgroundThreads:
      // One background thread serves every arena (Background.swift): any
      // maximum is met (opt.max_background_threads reads 1).
      return parseUInt(v, vl) != nil
    case .lgProfInterval: return setting(parseInt(v, vl), in: -1...62) { config.opt.lgProfInterval = $0 }
    }
  }
}

/// jemalloc 5.3's options that tune machinery swalloc does not have (its
/// page allocator, extent fitting, thread-cache slot counts, ...) or ask
/// for a feature only at the value that leaves it off. A jemalloc user's
/// MALLOC_CONF carries them; they are read as jemalloc reads them and
/// otherwise ignored, so such a configuration starts every process without
/// a warning (and runs under abort_conf:true). A feature asked for at
/// another value is refused with its own warning (`unsupported value`).
/// README's Options section lists them.
enum JemallocOnlyValue {
  case bool, unsigned, signed, text
  /// hpa_dirty_mult: a fraction ("0.25") or -1.
  case fraction
  /// dss, percpu_arena, metadata_thp: one of jemalloc's names.
  case dss, percpuArena, metadataThp
  /// A feature swalloc lacks, off only at this value: a negative number
  /// (stats_interval), true, false.
  case negativeOnly, trueOnly, falseOnly

  /// Whether `v` is well formed for jemalloc (nil: malformed), and if so
  /// whether swalloc can take it (false: a feature it lacks).
  func accepts(_ v: UnsafePointer<CChar>, _ vl: Int) -> Bool? {
    switch self {
    case .bool: return parseBool(v, vl).map { _ in true }
    case .unsigned: return parseUInt(v, vl).map { _ in true }
    case .signed: return parseInt(v, vl).map { _ in true }
    case .text: return true
    case .fraction:
      if parseInt(v, vl) == -1 { return true }
      var i = 0, dots = 0, digits = 0
      while i < vl {
        if v[i] == 46 { dots &+= 1 } else if v[i] >= 48 && v[i] <= 57 { digits &+= 1 } else { return nil }  // '.', digits
        i &+= 1
      }
      return digits > 0 && dots <= 1 ? true : nil
    case .dss, .percpuArena, .metadataThp:
      // jemalloc's names for these settings, matched by hash as the keys
      // are (jemallocOnlyOption): disabled for all three; primary and
      // secondary, percpu and phycpu, auto and always.
      let h = optionKeyHash(v, vl)
      if h == 0x0fa3_391d_b68e_4425 { return true }  // disabled
      switch self {
      case .dss: return h == 0xbf31_137f_f783_e939 || h == 0xd7fb_c18f_bdaa_00d1 ? true : nil
      case .percpuArena: return h == 0xced6_270b_2981_726e || h == 0xc851_6ae5_2f42_5fbe ? true : nil
      default: return h == 0x5dc7_7784_260a_7236 || h == 0xf7c4_a6df_faf7_e544 ? true : nil
      }
    case .negativeOnly: return parseInt(v, vl).map { $0 < 0 }
    case .trueOnly: return parseBool(v, vl)
    case .falseOnly: return parseBool(v, vl).map { !$0 }
    }
  }
}

/// FNV-1a (64-bit) of the `length` bytes at `key`.
func optionKeyHash(_ key: UnsafePointer<CChar>, _ length: Int) -> UInt64 {
  var h: UInt64 = 0xcbf2_9ce4_8422_2325
  var i = 0
  while i < length {
    h = (h ^ UInt64(UInt8(bitPattern: key[i]))) &* 0x0000_0100_0000_01b3
    i &+= 1
  }
  return h
}

/// How the jemalloc-only option named by `key` is read; nil for any other
/// key. Matched by the name's hash, not its text: the 32 names (608 bytes
/// with their terminators) would have made the library's first read-only
/// segment, which every process maps resident whole, a page longer (4 KiB
/// of RSS in every process for a table read once, when the options name
/// one). Another key has one chance in 2^59 of matching one of them.
/// UnitTests (OptionsTests) check every name against its case.
func jemallocOnlyOption(_ key: UnsafePointer<CChar>, _ length: Int) -> JemallocOnlyValue? {
  switch optionKeyHash(key, length) {
  case 0x60b7eb82ff10249c: return .bool  // retain
  case 0xca502718f423c269: return .dss  // dss
  case 0x6591b7ab561c71ea: return .percpuArena  // percpu_arena
  case 0x5928450b3b20c196: return .unsigned  // oversize_threshold
  case 0x94ccc9cdddea49bb: return .metadataThp  // metadata_thp
  case 0x7dfe831dc61fc3ce: return .signed  // mutex_max_spin
  case 0xaec76fd04b84d1af: return .unsigned  // lg_extent_max_active_fit
  case 0x332509192fc42aac: return .bool  // hpa
  case 0xc00864de0e378aee: return .unsigned  // hpa_slab_max_alloc
  case 0x29548827837f2565: return .unsigned  // hpa_hugification_threshold
  case 0x3414378b0bbdfa9c: return .signed  // hpa_hugify_delay_ms
  case 0xd35f3392b104d67e: return .signed  // hpa_min_purge_interval_ms
  case 0xc916b34ab5c5c3a6: return .fraction  // hpa_dirty_mult
  case 0x071bfcf701966a4e: return .unsigned  // hpa_sec_nshards
  case 0x75d9799f4e08e119: return .unsigned  // hpa_sec_max_alloc
  case 0x43e66e28971efd97: return .unsigned  // hpa_sec_max_bytes
  case 0x5d9d8edc45bba662: return .unsigned  // hpa_sec_bytes_after_flush
  case 0x883c4bef76b06c3a: return .unsigned  // hpa_sec_batch_fill_extra
  case 0x94db8970c885a264: return .unsigned  // tcache_nslots_small_min
  case 0x94f69770c89c81e6: return .unsigned  // tcache_nslots_small_max
  case 0x1f9e9f5e318dc8ff: return .unsigned  // tcache_nslots_large
  case 0x25bdf2615130cdba: return .signed  // lg_tcache_nslots_mul
  case 0x3e977bd0e8f6bb95: return .unsigned  // tcache_gc_incr_bytes
  case 0x7e72a77cde772716: return .unsigned  // tcache_gc_delay_bytes
  case 0x7b9204884fb94c16: return .unsigned  // lg_tcache_flush_small_div
  case 0x01647ea1efa69faa: return .unsigned  // lg_tcache_flush_large_div
  case 0x031a4d4b1e59781e: return .bool  // prof_accum
  case 0xf46bd17fa9b6ed87: return .text  // stats_interval_opts
  case 0x33e107279d10eb64: return .negativeOnly  // stats_interval
  case 0xdc51b17700960579: return .trueOnly  // prof_thread_active_init
  case 0x9316f8ff6025b83d: return .falseOnly  // prof_leak_error
  case 0x40627af6132236bf: return .falseOnly  // experimental_infallible_new
  default: return nil
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
      if option.apply(v, vl) { confirmSet(k, kl &+ 1 &+ vl) } else { warn("bad value for option", k, kl &+ 1 &+ vl) }
      return
    }
    i &+= 1
  }
  if let kind = jemallocOnlyOption(k, kl) {
    switch kind.accepts(v, vl) {
    case true?: confirmSet(k, kl &+ 1 &+ vl)
    case false?: warn("unsupported value for option", k, kl &+ 1 &+ vl)
    case nil: warn("bad value for option", k, kl &+ 1 &+ vl)
    }
    return
  }
  warn("unknown option", k, kl)
}
