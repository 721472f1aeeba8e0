// Heap profile output: jemalloc's heap_v2 dumps (prof.dump, prof_gdump,
// prof_final) with the MAPPED_LIBRARIES section, and the prof_leak report
// at exit. The samples and stacks they read are Prof.swift's.

import CSwallocPlatform

// MARK: Dumps

/// A buffered writer to a descriptor (base memory). Guarded by profDumpLock.
private nonisolated(unsafe) var profOutBuffer: UnsafeMutablePointer<UInt8>? = nil
private nonisolated(unsafe) var profOutUsed = 0
private nonisolated(unsafe) var profOutFd: Int32 = -1
private let profOutCapacity = 1 << 16

private func outFlush() {
  guard let b = profOutBuffer else { return }
  var done = 0
  while done < profOutUsed {
    let n = write(profOutFd, b + done, profOutUsed &- done)
    if n <= 0 { break }
    done &+= n
  }
  profOutUsed = 0
}

private func outByte(_ c: UInt8) {
  if profOutUsed == profOutCapacity { outFlush() }
  profOutBuffer.unsafelyUnwrapped[profOutUsed] = c
  profOutUsed &+= 1
}

private func out(_ s: StaticString) {
  var i = 0
  while i < s.utf8CodeUnitCount { outByte(s.utf8Start[i]); i &+= 1 }
}

private func outC(_ s: UnsafePointer<CChar>) {
  var i = 0
  while s[i] != 0 { outByte(UInt8(bitPattern: s[i])); i &+= 1 }
}

private func outDecimal(_ n: UInt) {
  var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)   // 24 bytes of room
  var count = 0
  var v = n
  withUnsafeMutableBytes(of: &digits) { d in
    repeat {
      d[count] = UInt8(48 &+ v % 10)
      v /= 10
      count &+= 1
    } while v != 0
    while count > 0 { count &-= 1; outByte(d[count]) }
  }
}

private func outHex(_ n: UInt) {
  out("0x")
  var shift = 60
  var started = false
  while shift >= 0 {
    let digit = UInt8((n >> UInt(shift)) & 15)
    if digit != 0 || started || shift == 0 {
      started = true
      outByte(digit < 10 ? 48 &+ digit : 87 &+ digit)
    }
    shift &-= 4
  }
}

private func outCounts(_ objects: UInt, _ bytes: UInt, _ totalObjects: UInt, _ totalBytes: UInt) {
  outDecimal(objects); out(": "); outDecimal(bytes)
  out(" ["); outDecimal(totalObjects); out(": "); outDecimal(totalBytes); out("]\n")
}

/// Writes a heap_v2 profile to `path`, or to PREFIX.PID.SEQ.heap when nil
/// (a new file: not over an existing one, not through a symbolic link:
/// swalloc_open_new); `kind` is unused in the name (kept for the caller's
/// intent). Returns false when profiling is off or the file cannot be
/// written.
@discardableResult
func profDump(_ path: UnsafePointer<CChar>?, kind: UInt8) -> Bool {
  if !config.opt.prof { return false }
  let s = swalloc_tls_prof().unsafelyUnwrapped
  let wasBusy = s.pointee.busy
  s.pointee.busy = 1
  defer { s.pointee.busy = wasBusy }
  return withLock(&profDumpLock) {
    if profOutBuffer == nil {
      guard let b = baseAlloc(UInt(profOutCapacity) &+ 4096, alignment: 64) else { return false }
      profOutBuffer = b.bindMemory(to: UInt8.self, capacity: profOutCapacity &+ 4096)
    }
    let nameBuffer = UnsafeMutableRawPointer(profOutBuffer.unsafelyUnwrapped + profOutCapacity).assumingMemoryBound(to: CChar.self)
    var fd: Int32
    if let path {
      fd = swalloc_open_write(path)
    } else {
      // PREFIX.PID.SEQ.heap, built in the spare page after the buffer.
      profOutUsed = 0
      outC(config.opt.profPrefix.map { UnsafePointer($0) } ?? UnsafePointer(swallocDefaultPrefix()))
      out("."); outDecimal(UInt(swalloc_getpid())); out(".")
      outDecimal(profDumpSequence)
      out(".heap")
      profDumpSequence &+= 1
      let n = min(profOutUsed, 4095)
      memcpy(nameBuffer, profOutBuffer.unsafelyUnwrapped, n)
      nameBuffer[n] = 0
      profOutUsed = 0
      fd = swalloc_open_new(nameBuffer)
    }
    if fd < 0 { return false }
    profOutFd = fd
    profOutUsed = 0
    withLock(&profLock) {
      out("heap_v2/"); outDecimal(profRate); out("\n")
      out("  t*: "); outCounts(profLiveObjects, profLiveBytes, profTotalObjects, profTotalBytes)
      var stack = profAllStacks
      while let st = stack {
        if st.pointee.totalObjects != 0 {
          out("@")
          var i = 0
          while i < st.pointee.depth { out(" "); outHex(st.frames[i]); i &+= 1 }
          out("\n  t*: ")
          outCounts(st.pointee.liveObjects, st.pointee.liveBytes, st.pointee.totalObjects, st.pointee.totalBytes)
          var c = st.pointee.threads
          while let t = c {
            if t.pointee.totalObjects != 0 {
              out("  t"); outDecimal(UInt(t.pointee.tid)); out(": ")
              outCounts(t.pointee.liveObjects, t.pointee.liveBytes, t.pointee.totalObjects, t.pointee.totalBytes)
            }
            c = t.pointee.next
          }
        }
        stack = st.pointee.nextAll
      }
    }
    out("\nMAPPED_LIBRARIES:\n")
    outFlush()
    let maps = swalloc_open_read("/proc/self/maps")
    if maps >= 0 {
      let b = profOutBuffer.unsafelyUnwrapped
      while true {
        let n = read(maps, b, profOutCapacity)
        if n <= 0 { break }
        profOutUsed = n
        outFlush()
      }
      close(maps)
    }
    close(fd)
    profOutFd = -1
    return true
  }
}

private func swallocDefaultPrefix() -> UnsafePointer<CChar> {
  UnsafeRawPointer(("swalloc" as StaticString).utf8Start).assumingMemoryBound(to: CChar.self)
}

// MARK: Exit: prof_final, prof_leak

func profAtExit() {
  if !config.opt.prof { return }
  if config.opt.profFinal { profDump(nil, kind: 102) }   // 'f'
  if config.opt.profLeak { profLeakReport() }
}

/// prof_leak: the 20 sites with the most estimated live bytes, on stderr,
/// with symbol names where dladdr finds them (read after profLock is
/// released: dladdr takes the loader's lock).
private func profLeakReport() {
  let top = 20
  guard let slots = baseAlloc(UInt(top &* 8), alignment: 64)?.bindMemory(to: UnsafeMutablePointer<ProfStack>?.self, capacity: top) else { return }
  var i = 0
  while i < top { slots[i] = nil; i &+= 1 }
  var sites: UInt = 0
  let (liveObjects, liveBytes) = withLock(&profLock) {
    var stack = profAllStacks
    while let st = stack {
      if st.pointee.liveObjects != 0 {
        sites &+= 1
        // Insertion into the sorted top list.
        var k = top &- 1
        if slots[k] == nil || slots[k].unsafelyUnwrapped.pointee.liveBytes < st.pointee.liveBytes {
          slots[k] = st
          while k > 0, slots[k &- 1] == nil || slots[k &- 1].unsafelyUnwrapped.pointee.liveBytes < st.pointee.liveBytes {
            let t = slots[k &- 1]; slots[k &- 1] = slots[k]; slots[k] = t
            k &-= 1
          }
        }
      }
      stack = st.pointee.nextAll
    }
    return (profLiveObjects, profLiveBytes)
  }
  let s = swalloc_tls_prof().unsafelyUnwrapped
  s.pointee.busy = 1
  withLock(&profDumpLock) {
    if profOutBuffer == nil, let b = baseAlloc(UInt(profOutCapacity) &+ 4096, alignment: 64) {
      profOutBuffer = b.bindMemory(to: UInt8.self, capacity: profOutCapacity &+ 4096)
    }
    if profOutBuffer != nil {
      profOutFd = 2
      profOutUsed = 0
      let total = profUnbias(objects: liveObjects, bytes: liveBytes)
      out("swalloc: prof_leak: "); outDecimal(sites)
      out(" allocation sites still hold memory at exit, about ")
      outDecimal(UInt(total.bytes)); out(" bytes in "); outDecimal(UInt(total.objects))
      out(" blocks (estimated from "); outDecimal(liveObjects); out(" sampled blocks, rate ")
      outDecimal(profRate); out("); the largest:\n")
      i = 0
      while i < top, let st = slots[i] {
        let e = profUnbias(objects: st.pointee.liveObjects, bytes: st.pointee.liveBytes)
        out("  #"); outDecimal(UInt(i &+ 1)); out(" "); outDecimal(UInt(e.bytes)); out(" bytes in ")
        outDecimal(UInt(e.objects)); out(" blocks ("); outDecimal(st.pointee.liveObjects); out(" sampled)\n")
        var f = 0
        while f < min(st.pointee.depth, 8) {
          let pc = st.frames[f]
          out("      "); outHex(pc)
          var symbol: UnsafePointer<CChar>? = nil
          var module: UnsafePointer<CChar>? = nil
          var symbolStart: UInt = 0
          var moduleBase: UInt = 0
          // The return address minus one lies in the calling instruction.
          if let q = UnsafeRawPointer(bitPattern: pc &- 1),
             swalloc_dladdr(q, &symbol, &symbolStart, &module, &moduleBase) {
            if let symbol {
              out(" "); outC(symbol); out("+"); outHex(pc &- symbolStart)
            }
            if let module {
              out(" ("); outC(module); out("+"); outHex(pc &- moduleBase); out(")")
            }
          }
          out("\n")
          f &+= 1
        }
        i &+= 1
      }
      outFlush()
      profOutFd = -1
    }
  }
  s.pointee.busy = 0
}
