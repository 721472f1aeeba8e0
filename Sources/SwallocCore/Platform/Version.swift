// swalloc's version (semantic versioning: MAJOR.MINOR.PATCH), in this one
// place. Everything else derives from it: the library's `version` mallctl
// and exit report, the `swalloc` tool (Sources/SwallocTool/Version.swift is
// a link to this file), and scripts/version.sh, from which the install's
// soname (libswalloc.so.MAJOR), swalloc.pc and the Debian package take it.
let swallocVersion: StaticString = "0.1.0"
