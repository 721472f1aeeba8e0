import XCTest
import Foundation

/// The one-line errors: fatal() writes "swalloc: " before its message, so
/// no message passed to it carries that prefix itself. Six did, among them
/// the page-size check's, which printed "swalloc: swalloc: unsupported
/// page size ..." on a kernel with 16 or 64 KiB pages.
final class MessagesTests: XCTestCase {
  func testFatalMessagesCarryNoPrefixOfTheirOwn() throws {
    let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .appendingPathComponent("../../Sources/SwallocCore").standardized
    guard let files = FileManager.default.enumerator(atPath: sources.path) else {
      return XCTFail("no sources at \(sources.path)")
    }
    var checked = 0
    for case let file as String in files where file.hasSuffix(".swift") {
      let text = try String(contentsOf: sources.appendingPathComponent(file), encoding: .utf8)
      for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
      where line.contains("fatal(\"") {
        checked += 1
        XCTAssertFalse(line.contains("fatal(\"swalloc: "), "\(file):\(n + 1): fatal() adds the prefix itself")
      }
    }
    XCTAssertGreaterThan(checked, 20, "found too few fatal() calls to have looked in the right place")
  }
}
