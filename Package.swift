// swift-tools-version:6.0
// The shipped library (libswalloc.so) is NOT built by SwiftPM: it is the
// Embedded Swift build in scripts/build-lib.sh. This package builds the
// normally compiled twin of the same sources (SwallocCore), which the unit
// tests exercise, and nothing here is ever linked with the Embedded objects.
import PackageDescription

let package = Package(
  name: "swalloc",
  products: [
    .library(name: "SwallocCore", targets: ["SwallocCore"]),
  ],
  targets: [
    .target(
      name: "CSwallocPlatform",
      path: "Sources/CSwallocPlatform",
      cSettings: [.unsafeFlags(["-ftls-model=initial-exec"])]
    ),
    .target(
      name: "SwallocCore",
      dependencies: ["CSwallocPlatform"],
      path: "Sources/SwallocCore",
      swiftSettings: [.swiftLanguageMode(.v5)]
    ),
    .testTarget(
      name: "SwallocCoreTests",
      dependencies: ["SwallocCore"],
      path: "Tests/SwallocCoreTests",
      swiftSettings: [.swiftLanguageMode(.v5)]
    ),
  ]
)
