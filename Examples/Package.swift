// swift-tools-version:6.0
// A Swift program that uses swalloc as its allocator without LD_PRELOAD:
// it links libswalloc (the linker puts it before the C library, so malloc
// and free resolve to swalloc's, for the Swift runtime too) and uses the
// `Swalloc` module to read the allocator's figures.
//
//   scripts/install.sh --prefix "$HOME/.local"          (or the .deb: /usr)
//   cd Examples
//   swift build -c release -Xlinker -L"$HOME/.local/lib" -Xlinker -rpath -Xlinker "$HOME/.local/lib"
//   .build/release/linked-example
//
// In your own package: the same dependency (with a url: instead of path:),
// the same linkerSettings, the same -Xlinker flags (-rpath may be left out
// when the library is in the system's search path, e.g. from the .deb).
import PackageDescription

let package = Package(
  name: "SwallocExamples",
  dependencies: [
    .package(name: "swalloc", path: ".."),
  ],
  targets: [
    .executableTarget(
      name: "linked-example",
      dependencies: [.product(name: "Swalloc", package: "swalloc")],
      path: "Sources/LinkedExample",
      linkerSettings: [.linkedLibrary("swalloc")]
    ),
  ]
)
