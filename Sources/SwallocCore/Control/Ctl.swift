// The control interface, jemalloc's mallctl: `mallctl(name, oldp, oldlenp,
// newp, newlen)` (also exported as `swalloc_mallctl`) reads a value into
// *oldp when oldp and oldlenp are given, and writes *newp when newp is
// given; the lengths must equal the value's size. Returns 0, or jemalloc's
// errors: ENOENT for an unknown name (or an index naming nothing), EINVAL
// for a wrong length or value, EPERM for writing a read-only name or
// reading or writing an action, EFAULT for an operation the named arena
// cannot take. (Checked against jemalloc 5.3 by tests/compat.)
//
// Every name is one case of `CtlName`, whose `entry` gives its dotted pattern
// ("#" marks a numeric component: an arena, bin or large-class index), its
// index rule and its handler: the one table that mallctl, the MIB functions
// and README's compatibility table follow. A MIB holds the numbers of the
// numeric components and, in every other component, the name's case number,
// so a caller can change an index in a MIB and reuse it, as with jemalloc.
//
// Parsing never allocates: the name is compared in place.

import CSwallocPlatform
import Synchronization

/// jemalloc's MALLCTL_ARENAS_ALL.
let ctlArenasAll = 4096
/// jemalloc's MALLCTL_ARENAS_DESTROYED: arena.<i> names take it (an action
/// on it does nothing; a setting is EFAULT).
let ctlArenasDestroyed = 4097
/// Counts writes of "epoch" (statistics are always current). Atomic (relaxed).
let ctlEpoch = Atomic<UInt>(0)

// MARK: One call

/// A mallctl call: the caller's buffers and the name's numeric components.
struct CtlCall {
  let oldp: UnsafeMutableRawPointer?
  let oldlenp: UnsafeMutablePointer<Int>?
  let newp: UnsafeMutableRawPointer?
  let newlen: Int
  /// The first and second numeric components (arena, then bin or class).
  var i = 0
  var j = 0

  /// A read-only value: a write (newp, or a new length) is EPERM, as
  /// jemalloc's READONLY.
  func read<T>(_ value: T) -> Int32 {
    if newp != nil || newlen != 0 { return EPERM }
    return copyOut(value)
  }

  /// Copies `value` out when oldp and oldlenp are given. A length other
  /// than the value's is EINVAL, after copying as many of its bytes as both
  /// sizes allow and setting *oldlenp to that count (jemalloc's READ: a
  /// larger buffer gets the whole value and learns its size).
  func copyOut<T>(_ value: T) -> Int32 {
    guard let oldp, let oldlenp else { return 0 }
    let size = MemoryLayout<T>.size
    let given = oldlenp.pointee
    if given != size {
      // (*oldlenp is a size_t: compared unsigned, a huge one takes it all.)
      let count = UInt(bitPattern: given) < UInt(size) ? given : size
      if count > 0 {
        withUnsafeBytes(of: value) { oldp.copyMemory(from: $0.baseAddress.unsafelyUnwrapped, byteCount: count) }
      }
      oldlenp.pointee = count
      return EINVAL
    }
    oldp.storeBytes(of: value, as: T.self)
    return 0
  }

  /// A value that can be written: checks both lengths before acting (a
  /// wrong old length: copyOut's EINVAL, nothing written; jemalloc writes
  /// first), hands a new value to `apply` (its error, if any, is the
  /// call's), then returns the value from before the write, as jemalloc
  /// does.
  func readWrite<T>(_ current: T, _ apply: (T) -> Int32) -> Int32 {
    if oldp != nil, let oldlenp, oldlenp.pointee != MemoryLayout<T>.size {
      return copyOut(current)
    }
    if let newp {
      if newlen != MemoryLayout<T>.size { return EINVAL }
      let rc = apply(newp.load(as: T.self))
      if rc != 0 { return rc }
    }
    return copyOut(current)
  }

  /// readWrite for a bool, read as a byte: any non-zero byte is true (a
  /// Swift Bool must not be loaded from a byte that is neither 0 nor 1).
  func readWriteBool(_ current: Bool, _ apply: (Bool) -> Int32) -> Int32 {
    readWrite(UInt8(current ? 1 : 0)) { apply($0 != 0) }
  }

  /// A write-only value (jemalloc's WRITEONLY and ASSURED_WRITE): a read
  /// is EPERM, no value or one of another size EINVAL, else `apply`'s
  /// answer.
  func writeOnly<T>(_ type: T.Type, _ apply: (T) -> Int32) -> Int32 {
    if oldp != nil || oldlenp != nil { return EPERM }
    guard let newp, newlen == MemoryLayout<T>.size else { return EINVAL }
    return apply(newp.load(as: T.self))
  }

  /// True when the call reads or writes anything (jemalloc's
  /// NEITHER_READ_NOR_WRITE test: either pointer, or a new length).
  var readsOrWrites: Bool { oldp != nil || oldlenp != nil || newp != nil || newlen != 0 }

  /// An action: nothing may be read or written (EPERM, as jemalloc).
  func action(_ body: () -> Void) -> Int32 {
    if readsOrWrites { return EPERM }
    body()
    return 0
  }

  /// An action that answers a value (arenas.create): its buffer must be
  /// given, of the value's size, else EINVAL with *oldlenp set to 0 and
  /// nothing done (jemalloc's VERIFY_READ: an arena made and not reported
  /// would be lost to the caller).
  func actionReading<T>(_ type: T.Type, _ body: () -> T?) -> Int32 {
    if newp != nil { return EINVAL }
    guard oldp != nil, let oldlenp, oldlenp.pointee == MemoryLayout<T>.size else {
      oldlenp?.pointee = 0
      return EINVAL
    }
    guard let value = body() else { return EAGAIN }
    return copyOut(value)
  }
}

// MARK: The names

/// Which numbers a name's numeric components may take.
enum CtlIndex {
  case none
  /// arena.<i>: an existing arena index (created on demand).
  case arena
  /// arena.<i>.purge / decay: an arena, or narenas or 4096 for all of them.
  case arenaOrAll
  /// stats.arenas.<i>: an arena in use, or 4096 for all merged.
  case statsArena
  /// stats.arenas.<i>.bins.<j>: as statsArena, and a small class.
  case statsArenaBin
  /// arenas.bin.<i>: a small size class.
  case bin
  /// arenas.lextent.<i>: a large size class.
  case lextent
}

/// What a table entry gives: its shape (pattern and index rule), when asked
/// without a call, or the call's result.
enum CtlAnswer {
  case shape(StaticString, CtlIndex)
  case result(Int32)
}

/// One table entry: the pattern ("#": a numeric component), its index rule
/// and, for a call, what it does. The handler is a non-escaping closure, so
/// the table costs no closure contexts (no Swift runtime calls).
@inline(__always)
func node(_ pattern: StaticString, _ index: CtlIndex, _ call: CtlCall?,
                  _ handler: (CtlCall) -> Int32) -> CtlAnswer {
  guard let call else { return .shape(pattern, index) }
  return .result(handler(call))
}

/// Whether the numeric components fit the name's rule.
func ctlIndicesValid(_ kind: CtlIndex, _ i: Int, _ j: Int) -> Bool {
  switch kind {
  case .none: return true
  // arena.<i>: jemalloc's index rule (up to narenas, its old alias of all
  // arenas, and the all and destroyed indices); the handlers refuse what
  // they cannot act on with EFAULT, as jemalloc's.
  case .arena, .arenaOrAll: return i <= arenaCount || i == ctlArenasAll || i == ctlArenasDestroyed
  case .statsArena, .statsArenaBin:
    if kind == .statsArenaBin && j >= config.smallClassCount { return false }
    if i == ctlArenasAll { return true }
    if i >= arenaCount { return false }
    return withLock(&arenasLock) { arenas[i] != nil }
  case .bin: return i < config.smallClassCount
  case .lextent: return i < classCount &- config.smallClassCount
  }
}

// MARK: Matching names

/// Matches a NUL-terminated name against a pattern; fills the numeric
/// components into `numbers` (at most two) and returns the component count,
/// or nil when the name does not fit.
private func ctlMatch(_ name: UnsafePointer<CChar>, _ pattern: StaticString, _ numbers: inout (Int, Int)) -> Int? {
  let pat = pattern.utf8Start
  let patLength = pattern.utf8CodeUnitCount
  var p = 0
  var n = 0
  var components = 1
  var numberIndex = 0
  while p < patLength {
    let want = pat[p]
    if want == 35 {  // '#': 1 to 9 digits
      var value = 0
      var digits = 0
      while name[n] >= 48 && name[n] <= 57 {
        if digits == 9 { return nil }
        value = value &* 10 &+ Int(name[n] &- 48)
        digits &+= 1
        n &+= 1
      }
      if digits == 0 { return nil }
      if numberIndex == 0 { numbers.0 = value } else { numbers.1 = value }
      numberIndex &+= 1
      p &+= 1
      continue
    }
    if UInt8(bitPattern: name[n]) != want { return nil }
    if want == 46 { components &+= 1 }
    p &+= 1
    n &+= 1
  }
  return name[n] == 0 ? components : nil
}

/// The name's table entry and numeric components, or nil.
private func ctlLookup(_ name: UnsafePointer<CChar>) -> (CtlName, Int, Int, Int)? {
  var k = 0
  while let entry = CtlName(rawValue: k) {
    var numbers = (0, 0)
    if let components = ctlMatch(name, entry.shape.pattern, &numbers) {
      return (entry, numbers.0, numbers.1, components)
    }
    k &+= 1
  }
  return nil
}

/// Index `i` as the handlers take it: stats.arenas.<narenas> is jemalloc's
/// old name of the merged figures (4096). By name, MIB and nametomib alike.
private func ctlAliasedIndex(_ kind: CtlIndex, _ i: Int) -> Int {
  (kind == .statsArena || kind == .statsArenaBin) && i == arenaCount ? ctlArenasAll : i
}

private func ctlRun(_ entry: CtlName, _ i: Int, _ j: Int, _ oldp: UnsafeMutableRawPointer?,
                    _ oldlenp: UnsafeMutablePointer<Int>?, _ newp: UnsafeMutableRawPointer?, _ newlen: Int) -> Int32 {
  let i = ctlAliasedIndex(entry.shape.index, i)
  if !ctlIndicesValid(entry.shape.index, i, j) { return ENOENT }
  if case .result(let rc) = entry.entry(CtlCall(oldp: oldp, oldlenp: oldlenp, newp: newp, newlen: newlen, i: i, j: j)) {
    return rc
  }
  return ENOENT
}

@_cdecl("swalloc_mallctl")
public func swallocCtl(_ name: UnsafePointer<CChar>?, _ oldp: UnsafeMutableRawPointer?,
                       _ oldlenp: UnsafeMutablePointer<Int>?, _ newp: UnsafeMutableRawPointer?,
                       _ newlen: Int) -> Int32 {
  guard let name else { return EINVAL }
  if !ensureBooted() { return EAGAIN }
  guard let (entry, i, j, _) = ctlLookup(name) else { return ENOENT }
  return ctlRun(entry, i, j, oldp, oldlenp, newp, newlen)
}

// MARK: MIB interface

@_cdecl("swalloc_mallctlnametomib")
public func swallocMallctlnametomib(_ name: UnsafePointer<CChar>?, _ mibp: UnsafeMutablePointer<Int>?,
                                    _ miblenp: UnsafeMutablePointer<Int>?) -> Int32 {
  guard let name, let mibp, let miblenp else { return EINVAL }
  if !ensureBooted() { return EAGAIN }
  guard let (entry, i, j, components) = ctlLookup(name) else { return ENOENT }
  // A *miblenp below the name's components asks for a partial MIB, its
  // first *miblenp components (jemalloc's rule, *miblenp kept; 0 gives an
  // empty one); indices past it are not looked at (0 stands in: arena 0,
  // bin 0 and large class 0 always exist). Unlike jemalloc's, the whole
  // name must exist, and a partial MIB is completed with the components
  // of a MIB of the same name (word components carry the name's case).
  // (*miblenp is a size_t: compared unsigned, a huge one asks for it all.)
  let given = UInt(bitPattern: miblenp.pointee)
  let wanted = given < UInt(components) ? Int(given) : components
  if wanted == 0 { miblenp.pointee = 0; return 0 }
  var first = (ctlAliasedIndex(entry.shape.index, i), j)
  forEachComponent(of: entry.shape.pattern) { component, numberIndex in
    if component >= wanted, let n = numberIndex {
      if n == 0 { first.0 = 0 } else { first.1 = 0 }
    }
    return true
  }
  if !ctlIndicesValid(entry.shape.index, first.0, first.1) { return ENOENT }
  // Word components hold the case number, numeric ones their number.
  forEachComponent(of: entry.shape.pattern) { component, numberIndex in
    if component >= wanted { return false }
    if let n = numberIndex { mibp[component] = n == 0 ? i : j } else { mibp[component] = entry.rawValue }
    return true
  }
  miblenp.pointee = wanted
  return 0
}

@_cdecl("swalloc_mallctlbymib")
public func swallocMallctlbymib(_ mib: UnsafePointer<Int>?, _ miblen: Int, _ oldp: UnsafeMutableRawPointer?,
                                _ oldlenp: UnsafeMutablePointer<Int>?, _ newp: UnsafeMutableRawPointer?,
                                _ newlen: Int) -> Int32 {
  guard let mib else { return EINVAL }
  if !ensureBooted() { return EAGAIN }
  if miblen < 1 { return ENOENT }
  guard let entry = CtlName(rawValue: mib[0]) else { return ENOENT }
  // The MIB must have the pattern's shape: the case number in every word
  // component, a number (0 ... 999999999) in every numeric one.
  var numbers = (0, 0)
  let component = forEachComponent(of: entry.shape.pattern) { component, numberIndex in
    if component >= miblen { return false }
    let v = mib[component]
    guard let n = numberIndex else { return v == entry.rawValue }
    if v < 0 || v > 999_999_999 { return false }
    if n == 0 { numbers.0 = v } else { numbers.1 = v }
    return true
  }
  if component != miblen { return ENOENT }
  return ctlRun(entry, numbers.0, numbers.1, oldp, oldlenp, newp, newlen)
}

/// Calls `body` for each dotted component of `pattern` with its position
/// and, for a numeric one ("#"), which number it is (0, 1); stops when
/// `body` says false. Returns the components visited in full, or -1 when
/// `body` stopped early.
@discardableResult
private func forEachComponent(of pattern: StaticString, _ body: (Int, Int?) -> Bool) -> Int {
  var component = 0
  var numberIndex = 0
  var numeric = false
  var p = 0
  while p <= pattern.utf8CodeUnitCount {
    let c: UInt8 = p < pattern.utf8CodeUnitCount ? pattern.utf8Start[p] : 46  // end: a final '.'
    if c == 35 { numeric = true }
    if c == 46 {
      if !body(component, numeric ? numberIndex : nil) { return -1 }
      if numeric { numberIndex &+= 1 }
      component &+= 1
      numeric = false
    }
    p &+= 1
  }
  return component
}
