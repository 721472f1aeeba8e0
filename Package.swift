// swift-tools-version:6.0
// The shipped library (libswalloc.so) is NOT built by SwiftPM: it is the
// Embedded Swift build in scripts/build-lib.sh. This package builds the
// normally compiled twin of the same sources (SwallocCore), which the unit
// tests exercise, and the `swalloc` command-line tool; nothing here is ever
// linked with the Embedded objects (the tool loads the library into the
// programs it runs, or dlopens it RTLD_LOCAL for `version`).
import PackageDescription

let package = Package(
  name: "swalloc",
  products: [
    .library(name: "SwallocCore", targets: ["SwallocCore"]),
    .executable(name: "swalloc", targets: ["SwallocTool"]),
    .library(name: "Swalloc", targets: ["Swalloc"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
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
      exclude: ["LAYERS", "Platform/README.md", "Pages/README.md", "Arenas/README.md", "ThreadCache/README.md",
                "API/README.md", "Control/README.md"],
      // The twin's debug builds (unit tests, TSan, ASan) check the internal
      // invariants (Invariant.swift).
      swiftSettings: [.swiftLanguageMode(.v6), .define("SWALLOC_DEBUG", .when(configuration: .debug))]
    ),
    .executableTarget(
      name: "SwallocTool",
      dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser")],
      path: "Sources/SwallocTool",
      swiftSettings: [.swiftLanguageMode(.v5)]
    ),
    .target(
      name: "Swalloc",
      path: "Sources/Swalloc",
      swiftSettings: [.swiftLanguageMode(.v5)]
    ),
    .testTarget(
      name: "SwallocAPITests",
      dependencies: ["Swalloc"],
      path: "UnitTests/SwallocAPITests",
      swiftSettings: [.swiftLanguageMode(.v5)]
    ),
    .testTarget(
      name: "SwallocCoreTests",
      dependencies: ["SwallocCore"],
      path: "UnitTests/SwallocCoreTests",
      swiftSettings: [.swiftLanguageMode(.v5)]
    ),
  ]
)
