// The `swalloc` command-line tool (normal Swift, swift-argument-parser):
//   swalloc run [--conf OPTS] [--stats] [--json] [--lib PATH] -- PROGRAM ARGS...
//   swalloc bench [ARGS...]        the benchmark suite (scripts/bench.sh)
//   swalloc version
// `run` starts the program with the library preloaded and asks it (options
// stats_print, stats_print_opts:J, stats_fd) to write its exit report as
// JSON to a pipe, then prints a readable summary.

import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

let toolVersion = "0.1.0"

@main
struct Swalloc: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "swalloc",
    abstract: "Run programs under the swalloc allocator and report on their memory.",
    subcommands: [Run.self, Bench.self, Version.self])
}

/// The library: --lib, $SWALLOC_LIB, or libswalloc.so beside this executable
/// (scripts/build-lib.sh puts both in .build/release).
func libraryPath(_ explicit: String?) throws -> String {
  var candidates: [String] = []
  if let explicit { candidates.append(explicit) }
  if let env = ProcessInfo.processInfo.environment["SWALLOC_LIB"] { candidates.append(env) }
  let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
  candidates.append(exe.deletingLastPathComponent().appendingPathComponent("libswalloc.so").path)
  for c in candidates where FileManager.default.fileExists(atPath: c) {
    return URL(fileURLWithPath: c).standardizedFileURL.path
  }
  throw ValidationError("libswalloc.so not found (tried \(candidates.joined(separator: ", "))); build it with scripts/build-lib.sh or pass --lib")
}

/// The repository root, for `bench`: three levels above .build/<triple>/release.
func repositoryRoot() -> URL {
  let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
  var dir = exe.deletingLastPathComponent()
  for _ in 0..<4 {
    if FileManager.default.fileExists(atPath: dir.appendingPathComponent("scripts/bench.sh").path) { return dir }
    dir = dir.deletingLastPathComponent()
  }
  return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
}

func mib(_ bytes: Double) -> String { String(format: "%.1f MiB", bytes / 1_048_576) }

struct Run: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Run PROGRAM with libswalloc.so preloaded and print a summary at exit.")

  @Option(help: "swalloc options, e.g. narenas:4,dirty_decay_ms:1000")
  var conf: String?

  @Flag(help: "Also print the per-size-class table.")
  var stats = false

  @Flag(help: "Print the library's JSON report instead of the summary.")
  var json = false

  @Option(help: "Path of libswalloc.so.")
  var lib: String?

  @Argument(parsing: .captureForPassthrough, help: "The program and its arguments (after --).")
  var command: [String] = []

  func run() throws {
    var argv = command
    if argv.first == "--" { argv.removeFirst() }
    guard !argv.isEmpty else { throw ValidationError("no program given: swalloc run -- PROGRAM ARGS...") }
    let library = try libraryPath(lib)

    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { throw ValidationError("pipe failed") }
    let (readFd, writeFd) = (fds[0], fds[1])
    _ = fcntl(readFd, F_SETFD, FD_CLOEXEC)

    var environment = ProcessInfo.processInfo.environment
    environment["LD_PRELOAD"] = library
    let reportConf = "stats_print:true,stats_print_opts:J,stats_fd:\(writeFd)"
    environment["SWALLOC_CONF"] = [conf, reportConf].compactMap { $0 }.joined(separator: ",")

    var actions: posix_spawn_file_actions_t = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    posix_spawn_file_actions_addclose(&actions, readFd)
    let cArgs = argv.map { strdup($0) } + [nil]
    let cEnv = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    var pid: pid_t = 0
    let start = Date()
    let rc = posix_spawnp(&pid, argv[0], &actions, nil, cArgs, cEnv)
    posix_spawn_file_actions_destroy(&actions)
    cArgs.forEach { free($0) }
    cEnv.forEach { free($0) }
    close(writeFd)
    guard rc == 0 else {
      close(readFd)
      throw ValidationError("cannot run \(argv[0]): \(String(cString: strerror(rc)))")
    }

    // Read every report (a child's children report too) until all writers exit.
    var data = Data()
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
      let n = read(readFd, &buffer, buffer.count)
      if n <= 0 { break }
      data.append(contentsOf: buffer[0..<n])
    }
    close(readFd)
    var status: Int32 = 0
    var usage = rusage()
    _ = wait4(pid, &status, 0, &usage)
    let elapsed = Date().timeIntervalSince(start)
    let exitCode: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)

    let reports = String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { line -> [String: Any]? in
      guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
      return object["swalloc"] as? [String: Any]
    }
    let report = reports.first { ($0["pid"] as? Int) == Int(pid) } ?? reports.last
    if json {
      if let line = String(decoding: data, as: UTF8.self).split(separator: "\n").first(where: { $0.contains("\"pid\": \(pid)") }) {
        print(line)
      }
    } else {
      printSummary(argv: argv, report: report, processes: reports.count, exitCode: exitCode,
                   elapsed: elapsed, peakResidentKiB: Int(usage.ru_maxrss))
    }
    throw ExitCode(exitCode)
  }

  func printSummary(argv: [String], report: [String: Any]?, processes: Int, exitCode: Int32,
                    elapsed: Double, peakResidentKiB: Int) {
    let out = FileHandle.standardError
    func say(_ s: String) { out.write((s + "\n").data(using: .utf8)!) }
    say("── swalloc run: \(argv.joined(separator: " "))")
    say(String(format: "   exit status %d after %.2f s; %d process%@ reported", exitCode, elapsed, processes, processes == 1 ? "" : "es"))
    guard let r = report else {
      say("   no report from the library (was it loaded? is the program static, or did it close every descriptor?)")
      return
    }
    func n(_ key: String) -> Double { (r[key] as? NSNumber)?.doubleValue ?? 0 }
    say("   resident: peak \(mib(Double(peakResidentKiB) * 1024)) (kernel), at exit \(mib(n("resident")))")
    say("   allocated: peak \(mib(n("allocated_peak"))), at exit \(mib(n("allocated"))); mapped \(mib(n("mapped"))), metadata \(mib(n("metadata")))")
    let large = r["large"] as? [String: Any] ?? [:]
    let huge = r["huge"] as? [String: Any] ?? [:]
    say("   large: \((large["nmalloc"] as? Int) ?? 0) allocations; huge: \((huge["live"] as? Int) ?? 0) live; purged so far \(mib(n("purged")))")
    guard stats, let bins = r["bins"] as? [[String: Any]] else { return }
    say("       size  regs/slab   slabs  in use   handed out    returned")
    for b in bins {
      func v(_ k: String) -> Int { (b[k] as? Int) ?? 0 }
      say(String(format: "   %8d %10d %7d %7d %12d %11d", v("size"), v("nregs"), v("curslabs"), v("curregs"), v("nmalloc"), v("ndalloc")))
    }
  }
}

struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Run the benchmark suite (scripts/bench.sh).")

  @Argument(parsing: .captureForPassthrough, help: "Arguments for scripts/bench.sh, e.g. --quick.")
  var arguments: [String] = []

  func run() throws {
    let script = repositoryRoot().appendingPathComponent("scripts/bench.sh").path
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = [script] + arguments.filter { $0 != "--" }
    try process.run()
    process.waitUntilExit()
    throw ExitCode(process.terminationStatus)
  }
}

struct Version: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Print the tool's and the library's versions.")

  @Option(help: "Path of libswalloc.so.")
  var lib: String?

  func run() throws {
    print("swalloc tool \(toolVersion)")
    let library = try libraryPath(lib)
    guard let handle = dlopen(library, RTLD_NOW | RTLD_LOCAL),
          let symbol = dlsym(handle, "swalloc_mallctl") else {
      print("library \(library): cannot be loaded")
      throw ExitCode(1)
    }
    typealias Ctl = @convention(c) (UnsafePointer<CChar>?, UnsafeMutableRawPointer?, UnsafeMutablePointer<Int>?, UnsafeMutableRawPointer?, Int) -> Int32
    let ctl = unsafeBitCast(symbol, to: Ctl.self)
    var version: UnsafePointer<CChar>? = nil
    var length = MemoryLayout<UnsafePointer<CChar>?>.size
    let rc = ctl("version", &version, &length, nil, 0)
    print("library \(library): \(rc == 0 && version != nil ? String(cString: version!) : "unknown version")")
  }
}
