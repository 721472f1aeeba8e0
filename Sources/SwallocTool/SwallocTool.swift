// The `swalloc` command-line tool (normal Swift, swift-argument-parser):
//   swalloc run [--conf OPTS] [--stats] [--json FILE] [--lib PATH] [--] PROGRAM ARGS...
//   swalloc bench [ARGS...]        the benchmark suite (scripts/bench.sh)
//   swalloc version
// `run` starts the program with the library preloaded and asks it (options
// stats_print, stats_print_opts:J, stats_fd) to write its exit report as
// JSON to a datagram socket, then prints a summary of the main process and
// a line per other process that reported (Run.discussion has the details).

import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

let toolVersion = "\(swallocVersion)"

@main
struct Swalloc: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "swalloc",
    abstract: "Run programs under the swalloc allocator and report on their memory.",
    version: toolVersion,
    subcommands: [Run.self, Prof.self, Bench.self, Version.self])

  /// ArgumentParser's entry, with one change: the tool's own failures (a
  /// usage error, the library not found) exit with 125, as `env`, `nice` and
  /// `timeout` do, so they are not mistaken for the program's own status.
  /// `run` passes the program's status on by throwing ExitCode.
  static func main() {
    let command: ParsableCommand
    do { command = try parseAsRoot() } catch { finish(error) }
    do {
      var running = command
      try running.run()
    } catch { finish(error) }
  }

  static func finish(_ error: Error) -> Never {
    if let code = error as? ExitCode { Foundation.exit(code.rawValue) }
    if exitCode(for: error) == .success { exit(withError: error) }  // --help, --version
    let message = error is ToolError || error is ValidationError ? "swalloc: \(error)" : fullMessage(for: error)
    if !message.isEmpty { FileHandle.standardError.write(Data((message + "\n").utf8)) }
    Foundation.exit(125)
  }
}

struct ToolError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// The library: --lib, $SWALLOC_LIB, libswalloc.so beside this executable
/// (scripts/build-lib.sh puts both in .build/release), or the installed one
/// (bin/swalloc next to lib/libswalloc.so.MAJOR, scripts/install.sh).
func libraryPath(_ explicit: String?) throws -> String {
  let env = ProcessInfo.processInfo.environment["SWALLOC_LIB"].flatMap { $0.isEmpty ? nil : $0 }
  if let given = explicit ?? env {
    guard FileManager.default.fileExists(atPath: given) else {
      throw ToolError("\(given) (\(explicit != nil ? "--lib" : "SWALLOC_LIB")): no such file")
    }
    return URL(fileURLWithPath: given).standardizedFileURL.path
  }
  var candidates: [String] = []
  let exeDir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
  let major = toolVersion.split(separator: ".").first.map(String.init) ?? "0"
  candidates.append(exeDir.appendingPathComponent("libswalloc.so").path)
  candidates.append(exeDir.deletingLastPathComponent().appendingPathComponent("lib/libswalloc.so.\(major)").path)
  for c in candidates where FileManager.default.fileExists(atPath: c) {
    return URL(fileURLWithPath: c).standardizedFileURL.path
  }
  throw ToolError("libswalloc.so not found (tried \(candidates.joined(separator: ", "))); build it with scripts/build-lib.sh or pass --lib")
}

/// The repository root, for `bench`: a directory above the executable that
/// holds scripts/bench.sh, or nil (an installed tool has none).
func repositoryRoot() -> URL? {
  let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
  var dir = exe.deletingLastPathComponent()
  for _ in 0..<5 {
    if FileManager.default.fileExists(atPath: dir.appendingPathComponent("scripts/bench.sh").path) { return dir }
    dir = dir.deletingLastPathComponent()
  }
  let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
  return FileManager.default.fileExists(atPath: cwd.appendingPathComponent("scripts/bench.sh").path) ? cwd : nil
}

func mib(_ bytes: Double) -> String { String(format: "%.1f MiB", bytes / 1_048_576) }

/// A /proc file read whole (Foundation's String(contentsOfFile:) stops
/// after its first buffer on /proc files, which report size 0).
func readProcFile(_ path: String) -> [UInt8]? {
  let fd = open(path, O_RDONLY | O_CLOEXEC)
  if fd < 0 { return nil }
  defer { close(fd) }
  var out: [UInt8] = []
  var buffer = [UInt8](repeating: 0, count: 16384)
  while true {
    let n = read(fd, &buffer, buffer.count)
    if n < 0 && errno == EINTR { continue }
    if n <= 0 { break }
    out.append(contentsOf: buffer[0..<n])
  }
  return out
}

/// A "Key:   N kB" figure of /proc/PID/status, in KiB (nil when the file or
/// the line is missing: the process is gone, or a zombie without memory).
func procStatusKiB(_ pid: pid_t, _ key: String) -> Int? {
  guard let bytes = readProcFile("/proc/\(pid)/status") else { return nil }
  return statusKiB(String(decoding: bytes, as: UTF8.self), key)
}

/// The figure of a "Key:\t   N kB" line of a /proc/PID/status text.
func statusKiB(_ status: String, _ key: String) -> Int? {
  for line in status.split(separator: "\n") where line.hasPrefix(key + ":") {
    return line.dropFirst(key.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) }
  }
  return nil
}

/// The command line of a live process (the program's file name without its
/// directory), for the per-process list.
func procCommand(_ pid: pid_t) -> String? {
  guard let bytes = readProcFile("/proc/\(pid)/cmdline"), !bytes.isEmpty else { return nil }
  var words = bytes.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
  if let program = words.first { words[0] = URL(fileURLWithPath: program).lastPathComponent }
  return words.joined(separator: " ")
}

/// execvp's search, done before the fork: the path to execute, or the
/// errno that running `name` would fail with (ENOENT: not found; EACCES:
/// found, not executable).
func resolveProgram(_ name: String) -> Result<String, ToolError.Code> {
  func check(_ path: String) -> Int32 {
    var st = stat()
    if stat(path, &st) != 0 { return errno }
    if (st.st_mode & mode_t(S_IFMT)) == mode_t(S_IFDIR) { return EACCES }
    return access(path, X_OK) == 0 ? 0 : errno
  }
  if name.contains("/") {
    let e = check(name)
    return e == 0 ? .success(name) : .failure(ToolError.Code(e))
  }
  if name.isEmpty { return .failure(ToolError.Code(ENOENT)) }
  let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
  var firstError: Int32 = ENOENT
  for dir in path.split(separator: ":", omittingEmptySubsequences: false) {
    let candidate = (dir.isEmpty ? "." : String(dir)) + "/" + name
    let e = check(candidate)
    if e == 0 { return .success(candidate) }
    if e != ENOENT && e != ENOTDIR && firstError == ENOENT { firstError = e }
  }
  return .failure(ToolError.Code(firstError))
}

extension ToolError {
  struct Code: Error {
    let errno: Int32
    init(_ errno: Int32) { self.errno = errno }
  }
}

/// A pipe whose ends are closed on exec (pipe2 is not in Swift's Glibc).
func closeOnExecPipe(_ fds: inout [Int32]) -> Bool {
  guard pipe(&fds) == 0 else { return false }
  _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
  _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
  return true
}

/// SCM_CREDENTIALS (<bits/socket.h>, not in Swift's Glibc without
/// _GNU_SOURCE); its data is a struct ucred, whose first field is the pid.
let scmCredentials: Int32 = 2

/// The program's process once started: its pid, and what the kernel
/// counted as its resident set when it was forked (VmHWM of the copy).
struct Started {
  let pid: pid_t
  let forkResidentKiB: Int
}

/// fork + execve. Not posix_spawn: posix_spawn shares the tool's memory
/// until exec (vfork), and the kernel then counts the tool's whole resident
/// set (~20 MiB) into the program's peak (ru_maxrss keeps the largest
/// resident set of every image the process ran). A forked copy holds only
/// the pages the fork copies; the child reads that figure (VmHWM) just
/// before it execs and hands it over, so a peak at or below it is known for
/// what it is. The child runs only async-signal-safe calls on memory
/// prepared here.
func startProgram(path: String, argv: [String], environment: [String], reportFd: Int32) throws -> Started {
  func cStrings(_ strings: [String]) -> UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> {
    let array = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: strings.count + 1)
    for (i, s) in strings.enumerated() { array[i] = strdup(s) }
    array[strings.count] = nil
    return array
  }
  let cPath = strdup(path)!
  let cArgs = cStrings(argv)
  let cEnv = cStrings(environment)
  // execvp runs a file without a #! line through the shell; so does this.
  let shArgs = cStrings(["/bin/sh", path] + argv.dropFirst())
  let shPath = strdup("/bin/sh")!
  let statusPath = strdup("/proc/self/status")!
  let statusCapacity = 8192
  let statusBuffer = UnsafeMutablePointer<UInt8>.allocate(capacity: statusCapacity)
  defer {
    for array in [cArgs, cEnv, shArgs] {
      var i = 0
      while let s = array[i] { free(s); i += 1 }
      array.deallocate()
    }
    free(cPath)
    free(shPath)
    free(statusPath)
    statusBuffer.deallocate()
  }
  // The child writes to this pipe: the length and text of its
  // /proc/self/status, then, only if exec fails, the errno.
  var channel: [Int32] = [0, 0]
  guard closeOnExecPipe(&channel) else { throw ToolError("pipe: \(String(cString: strerror(errno)))") }
  let (channelRead, channelWrite) = (channel[0], channel[1])
  let pid = fork()
  if pid < 0 { throw ToolError("fork: \(String(cString: strerror(errno)))") }
  if pid == 0 {
    // The report socket is the one descriptor of the tool's the program keeps.
    _ = fcntl(reportFd, F_SETFD, 0)
    var length: Int32 = 0
    let statusFd = open(statusPath, O_RDONLY)
    if statusFd >= 0 {
      while Int(length) < statusCapacity {
        let n = read(statusFd, statusBuffer + Int(length), statusCapacity - Int(length))
        if n <= 0 { break }
        length += Int32(n)
      }
      close(statusFd)
    }
    _ = write(channelWrite, &length, 4)
    _ = write(channelWrite, statusBuffer, Int(length))
    execve(cPath, cArgs, cEnv)
    var error = errno
    if error == ENOEXEC {
      execve(shPath, shArgs, cEnv)
      error = errno
    }
    _ = write(channelWrite, &error, 4)
    _exit(127)
  }
  close(channelWrite)
  var message: [UInt8] = []
  var chunk = [UInt8](repeating: 0, count: 4096)
  while true {
    let n = read(channelRead, &chunk, chunk.count)
    if n < 0 && errno == EINTR { continue }
    if n <= 0 { break }
    message.append(contentsOf: chunk[0..<n])
  }
  close(channelRead)
  func int32(at offset: Int) -> Int32? {
    guard message.count >= offset + 4 else { return nil }
    return message[offset..<offset + 4].withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
  }
  let statusLength = Int(int32(at: 0) ?? 0)
  if let error = int32(at: 4 + statusLength) {
    var status: Int32 = 0
    _ = waitpid(pid, &status, 0)
    throw ToolError.Code(error)
  }
  var forkResident = 0
  if message.count >= 4 + statusLength {
    forkResident = statusKiB(String(decoding: message[4..<4 + statusLength], as: UTF8.self), "VmHWM") ?? 0
  }
  return Started(pid: pid, forkResidentKiB: forkResident)
}

/// What one process sent on the report socket.
final class ProcessReports {
  let pid: pid_t
  var command: String?
  var pending: [UInt8] = []
  var report: [String: Any]?
  var reportText: String?
  init(pid: pid_t) { self.pid = pid }
}

/// The end of the main process, from a thread waiting for it.
final class MainExit {
  var status: Int32 = 0
  var usage = rusage()
  var end = Date()
}

struct Run: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run PROGRAM with libswalloc.so preloaded and summarise its memory at exit.",
    discussion: """
      Options are read up to the first argument that is not one of them (or \
      up to --); the rest is the program and its arguments.

      swalloc options: SWALLOC_CONF from the environment (or, when it is \
      unset, MALLOC_CONF, as the library reads them), then --conf; a key \
      given twice takes its last value, so --conf overrides the environment. \
      stats_print, stats_print_opts and stats_fd are set by the tool (the \
      library writes its exit report to a socket the tool reads: that \
      descriptor is the one the program inherits from the tool).

      The summary (on stderr) describes the main process, the one started; \
      every process of the program that loads the library and exits before \
      the main one reports too and gets a line of its own. swalloc run \
      returns when the main process exits; processes it leaves running are \
      not waited for. A process reports from an exit handler: none comes \
      from one that ends with _exit() or a signal, replaces itself (exec) \
      with a program that does not load the library, is statically linked, \
      or closes the report descriptor.

      Peak resident memory is the kernel's figure (ru_maxrss, as \
      /usr/bin/time's %M: the largest of the program and the children it \
      waited for). The kernel counts into it the memory of the copy forked \
      from swalloc (a few MiB); a peak not above that is read from \
      /proc/PID/status when the main process reports, else given as an \
      upper bound ("at most").

      Exit status: the program's own; 128+N when signal N ended it; 127 when \
      PROGRAM is not found, 126 when it cannot be executed; 125 when swalloc \
      itself fails (a usage error, the library not found).
      """)

  @Option(help: "swalloc options, e.g. narenas:4,dirty_decay_ms:1000 (override SWALLOC_CONF / MALLOC_CONF).")
  var conf: String?

  @Flag(help: "Also print the per-size-class table.")
  var stats = false

  @Option(help: ArgumentHelp("Write the run as JSON to FILE (/dev/stderr for the terminal) instead of printing the summary.",
                             valueName: "FILE"))
  var json: String?

  @Option(help: "Path of libswalloc.so (else $SWALLOC_LIB, libswalloc.so beside this executable, or the installed ../lib/libswalloc.so.MAJOR).")
  var lib: String?

  @Flag(help: "Profile the heap (prof:true, prof_final:true): at exit, print the top allocation sites and write a flame graph SVG.")
  var prof = false

  @Option(name: .customLong("prof-rate"), help: "With --prof: lg_prof_sample, one sample per 2^N bytes allocated (default 19).")
  var profRate: Int?

  @Argument(parsing: .captureForPassthrough, help: "The program and its arguments.")
  var command: [String] = []

  func run() throws {
    var argv = command
    // captureForPassthrough stops at the first argument it does not know,
    // help included: -h / --help before the program are the tool's.
    if let first = argv.first, first == "-h" || first == "--help" { throw CleanExit.helpRequest(Run.self) }
    if let first = argv.first, first.hasPrefix("-"), first != "--" {
      throw ValidationError("unknown option '\(first)' (put -- before a program whose name starts with '-')")
    }
    if argv.first == "--" { argv.removeFirst() }
    guard !argv.isEmpty else { throw ValidationError("no program given: swalloc run [OPTIONS] [--] PROGRAM ARGS...") }
    let library = try libraryPath(lib)

    // The report socket: datagrams carry the sender's pid (SO_PASSCRED), so
    // reports of processes exiting together are told apart; a process that
    // writes after the tool has gone gets an error, not SIGPIPE, and nothing
    // waits for it.
    var sockets: [Int32] = [0, 0]
    guard socketpair(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &sockets) == 0 else {
      throw ToolError("socketpair: \(String(cString: strerror(errno)))")
    }
    let (readFd, writeFd) = (sockets[0], sockets[1])
    var on: Int32 = 1
    _ = setsockopt(readFd, SOL_SOCKET, SO_PASSCRED, &on, socklen_t(MemoryLayout<Int32>.size))
    // The smallest send buffer the kernel allows (a few datagrams): a
    // process writing its report waits for the tool to read it, so when the
    // main process's first datagram arrives it is still alive, and its
    // /proc/PID/status (its peak resident set) can be read.
    var smallest: Int32 = 1
    _ = setsockopt(writeFd, SOL_SOCKET, SO_SNDBUF, &smallest, socklen_t(MemoryLayout<Int32>.size))

    var environment = ProcessInfo.processInfo.environment
    let existingPreload = environment["LD_PRELOAD"].flatMap { $0.isEmpty ? nil : $0 }
    environment["LD_PRELOAD"] = [library, existingPreload].compactMap { $0 }.joined(separator: ":")
    let inherited = environment["SWALLOC_CONF"] ?? environment["MALLOC_CONF"]
    let reportConf = "stats_print:true,stats_print_opts:J,stats_fd:\(writeFd)"
    var profConf: String? = nil
    var profDirectory: String? = nil
    if prof {
      let dir = NSTemporaryDirectory() + "swalloc-prof-\(getpid())"
      try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
      profDirectory = dir
      profConf = "prof:true,prof_final:true,prof_prefix:\(dir)/prof" + (profRate.map { ",lg_prof_sample:\($0)" } ?? "")
    }
    environment["SWALLOC_CONF"] = [inherited, conf, profConf, reportConf].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ",")

    let path: String
    switch resolveProgram(argv[0]) {
    case .success(let p): path = p
    case .failure(let code): try failToStart(argv[0], code.errno)
    }
    let started: Started
    let start = Date()
    do {
      started = try startProgram(path: path, argv: argv, environment: environment.map { "\($0.key)=\($0.value)" },
                                 reportFd: writeFd)
    } catch let code as ToolError.Code {
      try failToStart(argv[0], code.errno)
    }
    close(writeFd)
    // Like /usr/bin/time: ^C and ^\ go to the program; the tool reports.
    signal(SIGINT, SIG_IGN)
    signal(SIGQUIT, SIG_IGN)

    var wakeFds: [Int32] = [0, 0]
    guard closeOnExecPipe(&wakeFds) else { throw ToolError("pipe: \(String(cString: strerror(errno)))") }
    let ended = MainExit()
    let pid = started.pid
    let wakeWrite = wakeFds[1]
    let waiter = Thread {
      while wait4(pid, &ended.status, 0, &ended.usage) < 0 && errno == EINTR {}
      ended.end = Date()
      var byte: UInt8 = 1
      _ = write(wakeWrite, &byte, 1)
    }
    waiter.start()

    var processes: [pid_t: ProcessReports] = [:]
    var order: [pid_t] = []
    var mainResidentAtReportKiB: Int?
    var buffer = [UInt8](repeating: 0, count: 65536)
    let control = UnsafeMutableRawPointer.allocate(byteCount: 256, alignment: 8)
    defer { control.deallocate() }

    /// One datagram, or false when none is waiting (`wait`: false).
    func receive(wait: Bool) -> Bool {
      var from: pid_t = 0
      let n: Int = buffer.withUnsafeMutableBytes { raw in
        var iov = iovec(iov_base: raw.baseAddress, iov_len: raw.count)
        return withUnsafeMutablePointer(to: &iov) { iovp in
          var message = msghdr()
          message.msg_iov = iovp
          message.msg_iovlen = 1
          message.msg_control = control
          message.msg_controllen = 256
          let n = recvmsg(readFd, &message, wait ? 0 : Int32(MSG_DONTWAIT))
          // SCM_CREDENTIALS: cmsghdr (len, level, type), then struct ucred.
          var offset = 0
          let headerSize = MemoryLayout<cmsghdr>.size
          while n > 0 && offset + headerSize <= Int(message.msg_controllen) {
            let header = control.load(fromByteOffset: offset, as: cmsghdr.self)
            if header.cmsg_level == SOL_SOCKET && header.cmsg_type == scmCredentials {
              from = control.load(fromByteOffset: offset + headerSize, as: pid_t.self)  // ucred.pid
            }
            if Int(header.cmsg_len) < headerSize { break }
            offset += (Int(header.cmsg_len) + 7) & ~7
          }
          return n
        }
      }
      if n < 0 { return errno == EINTR }
      if n == 0 { return true }
      let process: ProcessReports
      if let p = processes[from] { process = p } else {
        process = ProcessReports(pid: from)
        processes[from] = process
        order.append(from)
        // The process is writing its report: it is alive, read it now.
        process.command = procCommand(from)
      }
      // A report begins: the main process is alive (its send buffer is
      // small: it cannot finish before the tool reads), its peak readable.
      // The last report is the exit report (malloc_stats calls write some
      // before it), so the last reading is the one at exit.
      if from == pid && process.pending.isEmpty { mainResidentAtReportKiB = procStatusKiB(from, "VmHWM") }
      process.pending.append(contentsOf: buffer[0..<n])
      while let newline = process.pending.firstIndex(of: 10) {
        let line = Array(process.pending[..<newline])
        process.pending.removeSubrange(...newline)
        if let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
           let report = object["swalloc"] as? [String: Any] {
          process.report = report
          process.reportText = String(decoding: line, as: UTF8.self)
        } else {
          // malloc_stats() and friends also write to stats_fd: pass them on.
          FileHandle.standardError.write(Data(line + [10]))
        }
      }
      return true
    }

    var fds = [pollfd(fd: readFd, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeFds[0], events: Int16(POLLIN), revents: 0)]
    while true {
      if poll(&fds, 2, -1) < 0 { if errno == EINTR { continue }; break }
      if fds[0].revents != 0 { _ = receive(wait: false) }
      if fds[1].revents != 0 { break }
    }
    // The main process has exited: what it (and any process before it) sent
    // is queued; take it, and leave the rest.
    while receive(wait: false) {}
    close(readFd)
    signal(SIGINT, SIG_DFL)
    signal(SIGQUIT, SIG_DFL)

    let status = ended.status
    let exitCode: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    let elapsed = ended.end.timeIntervalSince(start)
    let peak = ResidentPeak(kernelKiB: Int(ended.usage.ru_maxrss), forkKiB: started.forkResidentKiB,
                            atReportKiB: mainResidentAtReportKiB)
    let all = order.compactMap { processes[$0] }
    if let json {
      try writeJSON(to: json, argv: argv, pid: pid, exitCode: exitCode, elapsed: elapsed, peak: peak, processes: all)
      if processes[pid]?.report == nil {
        FileHandle.standardError.write(Data("swalloc: the main process (pid \(pid)) produced no report; \(json) says so (\"main_report\": null)\n".utf8))
      }
    } else {
      printSummary(argv: argv, pid: pid, exitCode: exitCode, elapsed: elapsed, peak: peak, processes: all)
    }
    if let profDirectory { reportProfile(directory: profDirectory, pid: pid) }
    throw ExitCode(exitCode)
  }

  func failToStart(_ name: String, _ error: Int32) throws -> Never {
    if error == ENOENT {
      FileHandle.standardError.write(Data("swalloc: \(name): command not found\n".utf8))
      throw ExitCode(127)
    }
    FileHandle.standardError.write(Data("swalloc: \(name): cannot execute: \(String(cString: strerror(error)))\n".utf8))
    throw ExitCode(126)
  }

  /// The main process's peak resident set: the kernel's figure when it is
  /// above what the forked copy started with (then it is the program's own),
  /// else the VmHWM read while the program wrote its report, else at most
  /// the fork's figure.
  struct ResidentPeak {
    let kernelKiB: Int
    let forkKiB: Int
    let atReportKiB: Int?
    /// Pages the child may touch between the fork's reading and exec.
    static let slackKiB = 64
    var kib: Int { kernelKiB > forkKiB + Self.slackKiB ? kernelKiB : (atReportKiB ?? kernelKiB) }
    var exact: Bool { kernelKiB > forkKiB + Self.slackKiB || atReportKiB != nil }
    var text: String {
      if kernelKiB > forkKiB + Self.slackKiB { return "peak \(mib(Double(kernelKiB) * 1024)) (kernel)" }
      if let atReportKiB { return "peak \(mib(Double(atReportKiB) * 1024)) (kernel, read at exit)" }
      return "peak at most \(mib(Double(kernelKiB) * 1024)) (kernel: not above the \(mib(Double(forkKiB) * 1024)) a process forked by swalloc starts with)"
    }
  }

  func writeJSON(to file: String, argv: [String], pid: pid_t, exitCode: Int32, elapsed: Double, peak: ResidentPeak,
                 processes: [ProcessReports]) throws {
    let main = processes.first { $0.pid == pid }
    let document: [String: Any] = [
      "command": argv,
      "pid": Int(pid),
      "exit_status": Int(exitCode),
      "elapsed_seconds": (elapsed * 1000).rounded() / 1000,
      "peak_resident_kib": peak.kib,
      "peak_resident_exact": peak.exact,
      "main_report": main?.report ?? NSNull(),
      "processes": processes.map { p -> [String: Any] in
        ["pid": Int(p.pid), "main": p.pid == pid, "command": p.command ?? NSNull(), "report": p.report ?? NSNull()]
      },
    ]
    var data = try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])
    data.append(10)
    if file == "/dev/stderr" || file == "-" {
      FileHandle.standardError.write(data)
      return
    }
    guard FileManager.default.createFile(atPath: file, contents: data) else {
      throw ToolError("cannot write \(file)")
    }
  }

  /// --prof: the main process's last profile (prof_final), summarised on
  /// stderr, and its flame graph beside it.
  func reportProfile(directory: String, pid: pid_t) {
    let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
      .filter { $0.hasPrefix("prof.\(pid).") && $0.hasSuffix(".heap") }
      .sorted { (Int($0.split(separator: ".")[2]) ?? 0) < (Int($1.split(separator: ".")[2]) ?? 0) }
    guard let last = files.last else {
      FileHandle.standardError.write(Data("swalloc: no heap profile from pid \(pid) in \(directory)\n".utf8))
      return
    }
    let path = directory + "/" + last
    do {
      // At exit most blocks are freed: the run's allocations (the totals),
      // then what is still live.
      let profile = try HeapProfile(path: path, allocated: true)
      let symbols = Symbolizer(maps: profile.maps)
      let all = profile.stacks.filter { $0.liveBytes > 0 }
      let live = try HeapProfile(path: path).stacks.filter { $0.liveBytes > 0 }
      var text = "swalloc: heap profile \(path) (swalloc prof FILE [--alloc] for more)\n"
      text += profileReport(stacks: all, symbols: symbols, top: 10, diff: false, rate: profile.rate, allocated: true)
      text += profileReport(stacks: live, symbols: symbols, top: 5, diff: false, rate: profile.rate)
      let svg = directory + "/prof.\(pid).svg"
      try flameGraphSVG(stacks: all, symbols: symbols, title: "swalloc heap profile: pid \(pid), bytes allocated")
        .write(toFile: svg, atomically: true, encoding: .utf8)
      text += "swalloc: flame graph \(svg)\n"
      FileHandle.standardError.write(Data(text.utf8))
    } catch {
      FileHandle.standardError.write(Data("swalloc: \(path): \(error)\n".utf8))
    }
  }

  func printSummary(argv: [String], pid: pid_t, exitCode: Int32, elapsed: Double, peak: ResidentPeak,
                    processes: [ProcessReports]) {
    var lines: [String] = []
    func say(_ s: String) { lines.append(s) }
    let main = processes.first { $0.pid == pid }
    let others = processes.filter { $0.pid != pid }
    // One line, however long or multi-line the command.
    let command = argv.joined(separator: " ").split(whereSeparator: \.isNewline).joined(separator: " ")
    say("── swalloc run: \(command.count > 100 ? command.prefix(99) + "…" : command)")
    say(String(format: "   exit status %d after %.2f s; main process pid %d", exitCode, elapsed, pid))
    if let r = main?.report {
      func n(_ key: String) -> Double { (r[key] as? NSNumber)?.doubleValue ?? 0 }
      say("   resident: \(peak.text), at exit \(mib(n("resident")))")
      say("   allocated: peak \(mib(n("allocated_peak"))), at exit \(mib(n("allocated"))); mapped \(mib(n("mapped"))), metadata \(mib(n("metadata")))")
      let large = r["large"] as? [String: Any] ?? [:]
      let huge = r["huge"] as? [String: Any] ?? [:]
      say("   large: \((large["nmalloc"] as? Int) ?? 0) allocations; huge: \((huge["live"] as? Int) ?? 0) live; purged so far \(mib(n("purged")))")
      if stats { statsTable(r, say) }
    } else {
      say("   resident: \(peak.text)")
      say("   the main process (pid \(pid)) produced no report. swalloc writes it from an exit handler, which does")
      say("   not run when the process ends with _exit() or a signal or execs a program that does not load the")
      say("   library (static or setuid); none comes either when the program closes the report descriptor.")
      if others.isEmpty { say("   no other process reported: was the library loaded at all?") }
    }
    if !others.isEmpty {
      say("   \(others.count) other process\(others.count == 1 ? "" : "es") reported (exited before the main one):")
      let shown = 8
      for p in others.prefix(shown) {
        let r = p.report ?? [:]
        func n(_ key: String) -> Double { (r[key] as? NSNumber)?.doubleValue ?? 0 }
        let what = p.report == nil ? "no complete report" :
          "allocated peak \(mib(n("allocated_peak"))), resident at exit \(mib(n("resident")))"
        say("     pid \(p.pid) \(String((p.command ?? "(exited before its command could be read)").prefix(60))): \(what)")
      }
      if others.count > shown { say("     ... and \(others.count - shown) more (every process is in --json FILE)") }
    }
    FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
  }

  func statsTable(_ r: [String: Any], _ say: (String) -> Void) {
    let bins = r["bins"] as? [[String: Any]] ?? []
    if bins.isEmpty {
      say("   no small size class was used")
      return
    }
    say("       size  regs/slab   slabs  in use  taken out    put back")
    for b in bins {
      func v(_ k: String) -> Int { (b[k] as? Int) ?? 0 }
      say(String(format: "   %8d %10d %7d %7d %10d %11d", v("size"), v("nregs"), v("curslabs"), v("curregs"), v("nmalloc"), v("ndalloc")))
    }
    say("   taken out / put back: regions moved between the slabs and the threads' caches (in refill and flush")
    say("   batches), not malloc / free calls; in use: regions out of the slabs now, cached ones included.")
  }
}

struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Run the benchmark suite (scripts/bench.sh of a source checkout).")

  @Argument(parsing: .captureForPassthrough, help: "Arguments for scripts/bench.sh, e.g. --quick.")
  var arguments: [String] = []

  func run() throws {
    guard let root = repositoryRoot() else {
      throw ToolError("bench runs scripts/bench.sh of a swalloc source checkout; none found above this executable or in the current directory")
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/bash")
    process.arguments = [root.appendingPathComponent("scripts/bench.sh").path] + arguments.filter { $0 != "--" }
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
