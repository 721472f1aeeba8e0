import XCTest
@testable import SwallocCore
#if canImport(Glibc)
import Glibc
#endif
import CSwallocPlatform

final class ClockTests: XCTestCase {
  override func setUp() { XCTAssertTrue(ensureBooted()) }

  /// The boot finds the vDSO's clock_gettime (every Linux process has a
  /// vDSO unless the kernel was booted without one), and the clock read
  /// through it agrees with libc's CLOCK_MONOTONIC_COARSE.
  func testTheClockIsTheVdsosAndAgreesWithLibc() {
    XCTAssertNotNil(config.vdsoClockGettime, "no __vdso_clock_gettime found in the vDSO")
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
    let before = UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
    let now = monotonicMs()
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts)
    let after = UInt64(ts.tv_sec) * 1000 + UInt64(ts.tv_nsec) / 1_000_000
    XCTAssertLessThanOrEqual(before, now)
    XCTAssertLessThanOrEqual(now, after)
  }

  /// A symbol lookup in an image that is not ELF, or absent, finds nothing.
  func testTheLookupRefusesWhatIsNotAnElfImage() {
    XCTAssertNil(vdsoSymbol(nil, "__vdso_clock_gettime"))
    var notElf: UInt64 = 0x1234
    withUnsafeBytes(of: &notElf) { XCTAssertNil(vdsoSymbol($0.baseAddress, "__vdso_clock_gettime")) }
    let image = UnsafeRawPointer(bitPattern: UInt(getauxval(UInt(AT_SYSINFO_EHDR))))
    XCTAssertNil(vdsoSymbol(image, "__vdso_no_such_function"))
    XCTAssertNotNil(vdsoSymbol(image, "__vdso_gettimeofday"))
  }
}
