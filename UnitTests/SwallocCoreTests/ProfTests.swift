import XCTest
@testable import SwallocCore
import CSwallocPlatform

final class ProfTests: XCTestCase {
  override func setUp() { XCTAssertTrue(ensureBooted()) }

  /// The backtrace buffer on the sampling thread's stack (profWithBacktrace,
  /// which replaced a 768-byte thread-local one) holds exactly the frames
  /// the unwinder is asked for, and a capture through it finds this test's
  /// own frames.
  func testTheStackBufferHoldsTheCapture() {
    XCTAssertEqual(MemoryLayout<ProfFrames>.size,
                   Int(SWALLOC_PROF_CAPTURE) * MemoryLayout<UnsafeMutableRawPointer?>.stride)
    let captured = profWithBacktrace { frames, n -> Int in
      XCTAssertNotNil(frames[0], "the first frame is empty")
      return n
    }
    XCTAssertGreaterThan(captured, 2)
    XCTAssertLessThanOrEqual(captured, Int(SWALLOC_PROF_CAPTURE))
  }
}
