// The heap profiler's unwinder, second half: how the rule of a return
// address is found, as libgcc finds it: its FDE (_Unwind_Find_FDE), the
// CIE's and FDE's encodings, and the CFA program run up to the address.
// ProfUnwind.swift has the why, the rule table and the walk that uses
// these rules.

import CSwallocPlatform

// MARK: Reading .eh_frame

/// A read position in a CIE or FDE: `p` up to `end`. A read past the end
/// sets `bad` and gives 0.
private struct EhReader {
  var p: UInt
  let end: UInt
  var bad = false

  init(_ p: UInt, _ end: UInt) {
    self.p = p
    self.end = end
  }

  var left: UInt { p < end ? end &- p : 0 }

  mutating func byte() -> UInt8 {
    if p >= end { bad = true; return 0 }
    let b = peekByte(p)
    p &+= 1
    return b
  }

  mutating func skip(_ n: UInt) -> Bool {
    if n > left { bad = true; return false }
    p &+= n
    return true
  }

  mutating func uleb() -> UInt64 {
    var v: UInt64 = 0
    var shift: UInt64 = 0
    while p < end {
      let b = peekByte(p)
      p &+= 1
      if shift < 64 { v |= UInt64(b & 0x7f) << shift }
      shift &+= 7
      if b & 0x80 == 0 { return v }
    }
    bad = true
    return 0
  }

  mutating func sleb() -> Int64 {
    var v: Int64 = 0
    var shift: UInt64 = 0
    while p < end {
      let b = peekByte(p)
      p &+= 1
      if shift < 64 { v |= Int64(bitPattern: UInt64(b & 0x7f) << shift) }
      shift &+= 7
      if b & 0x80 == 0 {
        if shift < 64 && b & 0x40 != 0 { v |= Int64(-1) << shift }
        return v
      }
    }
    bad = true
    return 0
  }

  /// Skips one pointer in DWARF EH encoding `encoding`; false when it
  /// cannot be skipped.
  mutating func skipEncoded(_ encoding: UInt8) -> Bool {
    if encoding == 0xff { return true }                 // omitted
    if encoding & 0x70 == 0x50 { return false }         // aligned: not in compiled code
    if encoding & 0x0f == 0x01 || encoding & 0x0f == 0x09 {
      _ = uleb()
      return !bad
    }
    let n = encodedSize(encoding)
    return n != 0 && skip(n)
  }
}

/// Bytes of a pointer in DWARF EH encoding `encoding` (its format nibble);
/// 0 for the variable-length ones (handled by the callers) and unknown ones.
private func encodedSize(_ encoding: UInt8) -> UInt {
  switch encoding & 0x0f {
  case 0x00: return 8   // absptr
  case 0x02, 0x0a: return 2
  case 0x03, 0x0b: return 4
  case 0x04, 0x0c: return 8
  default: return 0
  }
}

// MARK: The CFA program

// How a register is recovered; any other register's rule is irrelevant to
// the unwinder, except rsp's (then libgcc unwinds).
private let howSame: UInt8 = 0
private let howUndefined: UInt8 = 1
private let howOffset: UInt8 = 2
private let howOther: UInt8 = 3

private struct UnwindState {
  var cfaRegister: UInt64 = ~0
  var cfaOffset: Int64 = 0
  var rbpHow = howSame
  var raHow = howUndefined
  var rspHow = howSame
  var rbpOffset: Int64 = 0
  var raOffset: Int64 = 0

  mutating func set(_ register: UInt64, _ how: UInt8, _ offset: Int64) {
    if register == dwarfRBP {
      rbpHow = how
      rbpOffset = offset
    } else if register == dwarfRA {
      raHow = how
      raOffset = offset
    } else if register == dwarfRSP {
      rspHow = how == howSame ? howSame : howOther
    }
  }

  mutating func restore(_ register: UInt64, from initial: UnwindState) {
    if register == dwarfRBP {
      rbpHow = initial.rbpHow
      rbpOffset = initial.rbpOffset
    } else if register == dwarfRA {
      raHow = initial.raHow
      raOffset = initial.raOffset
    } else if register == dwarfRSP {
      rspHow = initial.rspHow
    }
  }
}

/// Runs a CFA program (as libgcc's execute_cfa_program: instructions at
/// locations below `ip`, the return address, apply). `initial` is the
/// state after the CIE's program (nil while running it: a restore there is
/// not modelled). False: an instruction the cache does not model, or
/// malformed data.
private func unwindRun(_ r: inout EhReader, location: UInt, ip: UInt, codeAlign: UInt64, dataAlign: Int64,
                       _ s: inout UnwindState, initial: UnwindState?) -> Bool {
  var saved = InlineArray<8, UnwindState>(repeating: UnwindState())
  var depth = 0
  var loc = location
  let code = UInt(truncatingIfNeeded: codeAlign)
  while r.p < r.end && loc < ip {
    let op = r.byte()
    let low = UInt64(op & 0x3f)
    switch op & 0xc0 {
    case 0x40:   // advance_loc
      loc &+= UInt(low) &* code
      continue
    case 0x80:   // offset
      let a = r.uleb()
      s.set(low, howOffset, Int64(bitPattern: a) &* dataAlign)
      if r.bad { return false }
      continue
    case 0xc0:   // restore
      guard let initial else { return false }
      s.restore(low, from: initial)
      continue
    default:
      break
    }
    switch op {
    case 0x00:   // nop
      break
    case 0x02:   // advance_loc1
      if r.left < 1 { return false }
      loc &+= UInt(peekByte(r.p)) &* code
      r.p &+= 1
    case 0x03:   // advance_loc2
      if r.left < 2 { return false }
      loc &+= UInt(peekU16(r.p)) &* code
      r.p &+= 2
    case 0x04:   // advance_loc4
      if r.left < 4 { return false }
      loc &+= UInt(peekU32(r.p)) &* code
      r.p &+= 4
    case 0x05:   // offset_extended
      let reg = r.uleb()
      let a = r.uleb()
      s.set(reg, howOffset, Int64(bitPattern: a) &* dataAlign)
    case 0x06:   // restore_extended
      let reg = r.uleb()
      guard let initial else { return false }
      s.restore(reg, from: initial)
    case 0x07:   // undefined
      s.set(r.uleb(), howUndefined, 0)
    case 0x08:   // same_value
      s.set(r.uleb(), howSame, 0)
    case 0x09:   // register
      let reg = r.uleb()
      _ = r.uleb()
      s.set(reg, howOther, 0)
    case 0x0a:   // remember_state
      if depth == 8 { return false }
      saved[depth] = s
      depth &+= 1
    case 0x0b:   // restore_state (the CFA is restored too, as libgcc does)
      if depth == 0 { return false }
      depth &-= 1
      s = saved[depth]
    case 0x0c:   // def_cfa
      s.cfaRegister = r.uleb()
      s.cfaOffset = Int64(bitPattern: r.uleb())
    case 0x0d:   // def_cfa_register
      s.cfaRegister = r.uleb()
    case 0x0e:   // def_cfa_offset
      s.cfaOffset = Int64(bitPattern: r.uleb())
    case 0x10, 0x16:   // expression, val_expression
      let reg = r.uleb()
      let a = r.uleb()
      if r.bad || a > UInt64(r.left) { return false }
      r.p &+= UInt(a)
      s.set(reg, howOther, 0)
    case 0x11:   // offset_extended_sf
      let reg = r.uleb()
      let off = r.sleb()
      s.set(reg, howOffset, off &* dataAlign)
    case 0x12:   // def_cfa_sf
      s.cfaRegister = r.uleb()
      s.cfaOffset = r.sleb() &* dataAlign
    case 0x13:   // def_cfa_offset_sf
      s.cfaOffset = r.sleb() &* dataAlign
    case 0x14:   // val_offset
      let reg = r.uleb()
      _ = r.uleb()
      s.set(reg, howOther, 0)
    case 0x15:   // val_offset_sf
      let reg = r.uleb()
      _ = r.sleb()
      s.set(reg, howOther, 0)
    case 0x2e:   // GNU_args_size: for landing pads only
      _ = r.uleb()
    case 0x2f:   // GNU_negative_offset_extended
      let reg = r.uleb()
      let a = r.uleb()
      s.set(reg, howOffset, (0 &- Int64(bitPattern: a)) &* dataAlign)
    default:     // set_loc, def_cfa_expression, vendor extensions
      return false
    }
    if r.bad { return false }
  }
  return !r.bad
}

// MARK: The rule of a return address

/// The rule for the frame whose return address is `ip`, as libgcc's
/// uw_frame_state_for finds it; ruleFallback for what the cache does not
/// model (or a CIE or FDE it cannot read).
func unwindComputeRule(_ ip: UInt) -> UnwindRule {
  let fallback = UnwindRule(flags: ruleFallback)
  var bases = swalloc_eh_bases()
  guard let fdeAddress = swalloc_find_fde(ip &- 1, &bases) else {
    // libgcc's x86-64 Linux fallback (MD_FALLBACK_FRAME_STATE_FOR) reads
    // the code at the return address: `mov $15, %rax; syscall` is the
    // signal trampoline, which it unwinds through; anything else ends
    // the stack there, this frame included.
    if peekByte(ip) == 0x48 && UInt64(peekWord(ip &+ 1)) == 0x050f_0000_000f_c0c7 { return fallback }
    return UnwindRule(flags: ruleEnd)
  }
  // The FDE and its CIE (32-bit DWARF only: a length of 0xffffffff is 64-bit).
  let fde = UInt(bitPattern: fdeAddress)
  let fdeLength = UInt(peekU32(fde))
  if fdeLength < 4 || fdeLength == 0xffff_ffff { return fallback }
  let fdeEnd = fde &+ 4 &+ fdeLength
  let cie = fde &+ 4 &- UInt(peekU32(fde &+ 4))
  let cieLength = UInt(peekU32(cie))
  if cieLength < 4 || cieLength == 0xffff_ffff { return fallback }
  let cieEnd = cie &+ 4 &+ cieLength
  var r = EhReader(cie &+ 8, cieEnd)
  let version = r.byte()
  if r.bad || (version != 1 && version != 3) { return fallback }
  // The augmentation string, NUL-terminated inside the CIE.
  let augmentation = r.p
  while r.p < r.end && peekByte(r.p) != 0 { r.p &+= 1 }
  if !r.skip(1) { return fallback }
  let codeAlign = r.uleb()
  let dataAlign = r.sleb()
  let raRegister = version == 1 ? UInt64(r.byte()) : r.uleb()
  if r.bad || raRegister != dwarfRA { return fallback }
  var fdeEncoding: UInt8 = 0   // absptr
  let hasZ = peekByte(augmentation) == UInt8(ascii: "z")
  if hasZ {
    let n = r.uleb()
    if r.bad || n > UInt64(r.left) { return fallback }
    var data = EhReader(r.p, r.p &+ UInt(n))
    var c = augmentation &+ 1
    while true {
      let letter = peekByte(c)
      if letter == 0 { break }
      if letter == UInt8(ascii: "R") {
        fdeEncoding = data.byte()
      } else if letter == UInt8(ascii: "P") {
        let encoding = data.byte()
        if data.bad || !data.skipEncoded(encoding) { return fallback }
      } else if letter == UInt8(ascii: "L") {
        _ = data.byte()
      } else {
        return fallback   // 'S' (a signal frame) or unknown
      }
      if data.bad { return fallback }
      c &+= 1
    }
    r.p = data.end
  } else if peekByte(augmentation) != 0 {
    return fallback
  }
  let cieInstructions = r.p
  // The FDE: its address range (skipped: _Unwind_Find_FDE chose it and
  // gave the function's start), augmentation data, instructions.
  var f = EhReader(fde &+ 8, fdeEnd)
  let size = encodedSize(fdeEncoding)
  if size == 0 || !f.skip(2 &* size) { return fallback }
  if hasZ {
    let n = f.uleb()
    if f.bad || n > UInt64(f.left) { return fallback }
    f.p &+= UInt(n)
  }
  var s = UnwindState()
  let function = UInt(bitPattern: bases.func)
  var program = EhReader(cieInstructions, cieEnd)
  if !unwindRun(&program, location: function, ip: UInt.max, codeAlign: codeAlign, dataAlign: dataAlign,
                &s, initial: nil) { return fallback }
  let initial = s
  if !unwindRun(&f, location: function, ip: ip, codeAlign: codeAlign, dataAlign: dataAlign,
                &s, initial: initial) { return fallback }

  var rule = UnwindRule(cfaOffset: s.cfaOffset)
  if s.cfaRegister == dwarfRBP {
    rule.flags |= ruleCFAIsRBP
  } else if s.cfaRegister != dwarfRSP {
    return fallback
  }
  if s.rspHow != howSame { return fallback }
  if s.raHow == howUndefined {
    rule.flags |= ruleEnd
    return rule
  }
  if s.raHow != howOffset || s.raOffset != Int64(Int16(truncatingIfNeeded: s.raOffset)) { return fallback }
  rule.raOffset = Int16(truncatingIfNeeded: s.raOffset)
  if s.rbpHow == howOffset {
    if s.rbpOffset != Int64(Int32(truncatingIfNeeded: s.rbpOffset)) { return fallback }
    rule.flags |= ruleRBPSaved
    rule.rbpOffset = Int32(truncatingIfNeeded: s.rbpOffset)
  } else if s.rbpHow != howSame && s.rbpHow != howUndefined {   // libgcc keeps an undefined one too
    return fallback
  }
  return rule
}
