// `swalloc prof FILE.heap [--top N] [--svg OUT.svg] [--diff BASE.heap]`:
// reads a heap profile (jemalloc's heap_v2 text, as swalloc's prof.dump and
// prof_final write it), unbiases each stack's sampled counts as jeprof does
// (n / (1 - exp(-(bytes / n) / R))), symbolizes the return addresses with
// addr2line (or llvm-symbolizer) on the objects of the MAPPED_LIBRARIES
// section, prints the top allocation sites by estimated live bytes, and
// writes a flame graph SVG (one box per frame, width = live bytes, a
// <title> on each box for the hover text).

import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct Prof: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Summarise a heap profile (prof.dump / prof_final output): top sites, flame graph SVG.")

  @Argument(help: "The heap profile (PREFIX.PID.SEQ.heap).")
  var file: String

  @Option(help: "Sites to print.")
  var top = 20

  @Option(help: ArgumentHelp("Write a flame graph of the live bytes to FILE.", valueName: "FILE"))
  var svg: String?

  @Option(help: ArgumentHelp("Show the change from BASE (an earlier profile of the same process).", valueName: "BASE"))
  var diff: String?

  @Flag(help: "Rank by bytes allocated since the start (or prof.reset) instead of live bytes.")
  var alloc = false

  func run() throws {
    let profile = try HeapProfile(path: file, allocated: alloc)
    var stacks = profile.stacks
    if let diff {
      let base = try HeapProfile(path: diff, allocated: alloc)
      var merged: [[UInt]: Double] = [:]
      for s in stacks { merged[s.frames, default: 0] += s.liveBytes }
      for s in base.stacks { merged[s.frames, default: 0] -= s.liveBytes }
      stacks = merged.map { HeapStack(frames: $0.key, liveObjects: 0, liveBytes: $0.value) }
    }
    let symbols = Symbolizer(maps: profile.maps)
    let report = profileReport(stacks: stacks, symbols: symbols, top: top, diff: diff != nil, rate: profile.rate, allocated: alloc)
    print(report, terminator: "")
    if let svg {
      let text = flameGraphSVG(stacks: stacks.filter { $0.liveBytes > 0 }, symbols: symbols,
                               title: "swalloc heap profile: \((file as NSString).lastPathComponent) (\(alloc ? "bytes allocated" : "live bytes"))")
      try text.write(toFile: svg, atomically: true, encoding: .utf8)
      print("flame graph: \(svg)")
    }
  }
}

struct HeapStack {
  var frames: [UInt]        // innermost first, return addresses
  var liveObjects: Double   // unbiased
  var liveBytes: Double
}

struct MapEntry {
  var start: UInt, end: UInt, offset: UInt
  var path: String
}

struct HeapProfile {
  var rate: Double = 524288
  var stacks: [HeapStack] = []
  var maps: [MapEntry] = []

  /// `allocated`: each stack's bytes are its total since the start (the
  /// bracketed counts) instead of its live ones.
  init(path: String, allocated: Bool = false) throws {
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
      throw ToolError("cannot read \(path)")
    }
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false)[...]
    guard let header = lines.first, header.hasPrefix("heap_v2/"), let r = Double(header.dropFirst(8)) else {
      throw ToolError("\(path): not a heap_v2 profile")
    }
    rate = r
    lines = lines.dropFirst()
    var current: [UInt]? = nil
    while let line = lines.first {
      lines = lines.dropFirst()
      if line.hasPrefix("MAPPED_LIBRARIES:") { break }
      if line.hasPrefix("@") {
        current = line.dropFirst().split(separator: " ").compactMap { UInt($0.hasPrefix("0x") ? $0.dropFirst(2) : $0, radix: 16) }
        continue
      }
      let trimmed = line.drop(while: { $0 == " " })
      if trimmed.hasPrefix("t*:"), let frames = current {
        // t*: N: BYTES [N2: BYTES2]
        let fields = trimmed.dropFirst(3).split(whereSeparator: { " :[]".contains($0) }).compactMap { Double($0) }
        if fields.count >= 4 || (fields.count >= 2 && !allocated) {
          let (n, b) = allocated ? (fields[2], fields[3]) : (fields[0], fields[1])
          var objects = 0.0, bytes = 0.0
          if n > 0 {
            let p = 1 - exp(-(b / n) / rate)
            objects = p > 0 ? n / p : n
            bytes = p > 0 ? b / p : b
          }
          stacks.append(HeapStack(frames: frames, liveObjects: objects, liveBytes: bytes))
        }
        current = nil
      }
    }
    for line in lines {
      // start-end perms offset dev inode path
      let f = line.split(separator: " ", omittingEmptySubsequences: true)
      guard f.count >= 6, f[1].contains("x") else { continue }
      let range = f[0].split(separator: "-")
      guard range.count == 2, let s = UInt(range[0], radix: 16), let e = UInt(range[1], radix: 16),
            let o = UInt(f[2], radix: 16) else { continue }
      maps.append(MapEntry(start: s, end: e, offset: o, path: f[5...].joined(separator: " ")))
    }
  }
}

/// Names return addresses: the object (from the maps) and the function
/// (addr2line -f on the object's file offset, or llvm-symbolizer), cached.
final class Symbolizer {
  let maps: [MapEntry]
  var names: [UInt: String] = [:]

  init(maps: [MapEntry]) { self.maps = maps }

  func object(_ pc: UInt) -> (path: String, offset: UInt)? {
    for m in maps where pc >= m.start && pc < m.end { return (m.path, pc - m.start + m.offset) }
    return nil
  }

  /// Symbolizes every address of `stacks` with one tool run per object.
  func resolve(_ stacks: [HeapStack]) {
    var byObject: [String: [(UInt, UInt)]] = [:]   // object -> (pc, virtual address in its file)
    for s in stacks {
      for pc in s.frames where names[pc] == nil {
        if let o = object(pc) { byObject[o.path, default: []].append((pc, fileAddress(o.path, o.offset))) }
        names[pc] = String(format: "0x%lx", pc)
      }
    }
    for (path, pcs) in byObject where path.hasPrefix("/") && FileManager.default.fileExists(atPath: path) {
      // The return address minus one is inside the call.
      let offsets = pcs.map { String(format: "0x%lx", $0.1 - 1) }
      // llvm-symbolizer first: in a stripped object it names only what the
      // dynamic symbols cover (addr2line would give the nearest one before).
      guard let out = runTool(["llvm-symbolizer", "--no-inlines", "--demangle", "--obj=\(path)"] + offsets).map(dropBlankLines)
              ?? runTool(["addr2line", "-f", "-C", "-e", path] + offsets) else { continue }
      var lines = out.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
      let base = (path as NSString).lastPathComponent
      for (pc, offset) in pcs {
        guard lines.count >= 2 else { break }
        let function = lines.removeFirst()
        _ = lines.removeFirst()
        names[pc] = function == "??" || function.isEmpty ? "\(base)+0x\(String(offset, radix: 16))" : function
      }
    }
  }

  private func dropBlankLines(_ s: String) -> String {
    s.split(separator: "\n").map(String.init).joined(separator: "\n")
  }

  /// The link-time address of file offset `offset` of the ELF file at
  /// `path` (its PT_LOAD segments), which the symbolizers expect.
  private var segments: [String: [(offset: UInt, vaddr: UInt, size: UInt)]] = [:]
  func fileAddress(_ path: String, _ offset: UInt) -> UInt {
    if segments[path] == nil {
      var found: [(UInt, UInt, UInt)] = []
      if let h = FileHandle(forReadingAtPath: path) {
        let head = [UInt8](h.readData(ofLength: 65536))
        h.closeFile()
        func u(_ at: Int, _ n: Int) -> UInt {
          guard at + n <= head.count else { return 0 }
          var v: UInt = 0
          for i in (0..<n).reversed() { v = v << 8 | UInt(head[at + i]) }
          return v
        }
        if head.count > 64, head[0] == 0x7f, head[1] == 0x45, head[4] == 2 {
          let phoff = Int(u(32, 8)), phentsize = Int(u(54, 2)), phnum = Int(u(56, 2))
          for i in 0..<phnum {
            let ph = phoff + i * phentsize
            if u(ph, 4) == 1 { found.append((u(ph + 8, 8), u(ph + 16, 8), u(ph + 32, 8))) }
          }
        }
      }
      segments[path] = found
    }
    for s in segments[path]! where offset >= s.offset && offset < s.offset + s.size { return offset - s.offset + s.vaddr }
    return offset
  }

  func name(_ pc: UInt) -> String { names[pc] ?? String(format: "0x%lx", pc) }

  private func runTool(_ argv: [String]) -> String? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = argv
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return nil }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    if process.terminationStatus != 0 { return nil }
    return String(data: data, encoding: .utf8)
  }
}

/// Frames that belong to the allocator's entry points or the C library's
/// allocation wrappers: a site is named by the first frame after them.
private let allocatorFrames: Set<String> = ["malloc", "calloc", "realloc", "free", "posix_memalign", "aligned_alloc",
  "memalign", "valloc", "pvalloc", "mallocx", "rallocx", "operator new(unsigned long)", "operator new[](unsigned long)"]

func profileReport(stacks: [HeapStack], symbols: Symbolizer, top: Int, diff: Bool, rate: Double,
                   allocated: Bool = false) -> String {
  symbols.resolve(stacks)
  // Sites: the innermost frame (its function). The callers shown are those
  // of the site's heaviest stack. (They were the first stack's in the
  // dump, whose order is a hash table's: python3's bytearray site, 87% of
  // the bytes, was shown with the callers of a list's growth, a few
  // samples through the same pymalloc frame, in about one run of 15.)
  var bySite: [String: (bytes: Double, objects: Double, stack: [UInt], stackBytes: Double)] = [:]
  for s in stacks {
    let names = s.frames.map(symbols.name).drop(while: { allocatorFrames.contains($0) })
    let site = names.first ?? "(no frames)"
    let old = bySite[site]
    let heavier = old.map { abs(s.liveBytes) > abs($0.stackBytes) } ?? true
    bySite[site] = ((old?.bytes ?? 0) + s.liveBytes, (old?.objects ?? 0) + s.liveObjects,
                    heavier ? s.frames : old!.stack, heavier ? s.liveBytes : old!.stackBytes)
  }
  let total = stacks.reduce(0) { $0 + $1.liveBytes }
  let what = allocated ? "bytes allocated" : "live bytes"
  var out = diff ? "\(what), change from the base profile (estimated; sample period \(Int(rate)) bytes)\n"
                 : "\(what) by allocation site (estimated; sample period \(Int(rate)) bytes): total \(Int(total.rounded()))\n"
  out += "       bytes   share      blocks  site (callers)\n"
  let sorted = bySite.sorted { abs($0.value.bytes) > abs($1.value.bytes) }
  for (site, v) in sorted.prefix(top) {
    let share = total != 0 ? 100 * v.bytes / total : 0
    let callers = v.stack.map(symbols.name).drop(while: { allocatorFrames.contains($0) }).dropFirst().prefix(3).joined(separator: " < ")
    out += String(format: "%12.0f %6.1f%% %11.0f  ", v.bytes, share, v.objects) + site + (callers.isEmpty ? "" : "  (< \(callers))") + "\n"
  }
  return out
}

// MARK: Flame graph

private final class FlameNode {
  var name: String
  var bytes = 0.0
  var children: [String: FlameNode] = [:]
  init(_ name: String) { self.name = name }
}

private func xmlEscape(_ s: String) -> String {
  var out = ""
  for c in s {
    switch c {
    case "&": out += "&amp;"
    case "<": out += "&lt;"
    case ">": out += "&gt;"
    case "\"": out += "&quot;"
    default: out.append(c)
    }
  }
  return out
}

/// An icicle-free flame graph: the root (all live bytes) at the bottom,
/// each stack's frames from the outermost up, boxes as wide as their bytes.
func flameGraphSVG(stacks: [HeapStack], symbols: Symbolizer, title: String) -> String {
  symbols.resolve(stacks)
  let root = FlameNode("all")
  for s in stacks {
    root.bytes += s.liveBytes
    var node = root
    for pc in s.frames.reversed() {
      let name = symbols.name(pc)
      if allocatorFrames.contains(name) { continue }
      let child = node.children[name] ?? FlameNode(name)
      node.children[name] = child
      child.bytes += s.liveBytes
      node = child
    }
  }
  func depth(_ n: FlameNode) -> Int { 1 + (n.children.values.map(depth).max() ?? 0) }
  let width = 1200.0, rowHeight = 18.0, top = 40.0
  let rows = depth(root)
  let height = top + Double(rows) * rowHeight + 10
  var body = ""
  func color(_ name: String) -> String {
    var h: UInt32 = 2166136261
    for b in name.utf8 { h = (h ^ UInt32(b)) &* 16777619 }
    return "rgb(\(205 + Int(h % 50)),\(80 + Int((h >> 8) % 110)),\(Int((h >> 16) % 60)))"
  }
  func draw(_ n: FlameNode, x: Double, level: Int) {
    let w = root.bytes > 0 ? width * n.bytes / root.bytes : 0
    if w < 0.3 { return }
    let y = height - 10 - Double(level + 1) * rowHeight
    let share = root.bytes > 0 ? 100 * n.bytes / root.bytes : 0
    let label = xmlEscape(n.name)
    body += "<g><title>\(label) (\(Int(n.bytes.rounded())) bytes, \(String(format: "%.2f", share))%)</title>"
    body += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%@\" rx=\"2\"/>", x, y, w, rowHeight - 1, color(n.name))
    let chars = Int(w / 7)
    if chars >= 3 {
      let text = n.name.count <= chars ? n.name : String(n.name.prefix(chars - 2)) + ".."
      body += String(format: "<text x=\"%.1f\" y=\"%.1f\">", x + 3, y + rowHeight - 5) + xmlEscape(text) + "</text>"
    }
    body += "</g>\n"
    var cx = x
    for c in n.children.values.sorted(by: { $0.name < $1.name }) {
      draw(c, x: cx, level: level + 1)
      cx += root.bytes > 0 ? width * c.bytes / root.bytes : 0
    }
  }
  draw(root, x: 10, level: 0)
  return """
    <?xml version="1.0" standalone="no"?>
    <svg version="1.1" width="\(Int(width + 20))" height="\(Int(height))" xmlns="http://www.w3.org/2000/svg">
    <style>text { font-family: monospace; font-size: 12px; fill: black; pointer-events: none; } rect:hover { stroke: black; stroke-width: 1; }</style>
    <rect x="0" y="0" width="\(Int(width + 20))" height="\(Int(height))" fill="rgb(250,250,240)"/>
    <text x="10" y="24" style="font-size: 16px">\(xmlEscape(title))</text>
    \(body)</svg>

    """
}
