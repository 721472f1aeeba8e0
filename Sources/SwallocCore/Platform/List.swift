// Intrusive doubly-linked lists: the links live in the records listed
// (Extent's next/prev, lruNext/lruPrev), so a list is only its ends and
// inserting or unlinking touches no memory but the records and the ends.
// One implementation of the unlink and insert code the bins' nonfull
// slabs, the free-extent buckets, the huge cache and the decay LRU lists
// each had by hand.
//
// Generic over a ListLinks type that names the pair of link fields, with
// every method always inlined: each use is specialized to the plain loads
// and stores it replaced (no witness table, no runtime call in the
// Embedded build; scripts/check-library.sh), and a record can be on two
// lists at once through two pairs of fields.

/// A pair of link fields of `Record` that a list threads through.
protocol ListLinks {
  associatedtype Record
  static func next(_ record: UnsafeMutablePointer<Record>) -> UnsafeMutablePointer<Record>?
  static func prev(_ record: UnsafeMutablePointer<Record>) -> UnsafeMutablePointer<Record>?
  static func setNext(_ record: UnsafeMutablePointer<Record>, _ next: UnsafeMutablePointer<Record>?)
  static func setPrev(_ record: UnsafeMutablePointer<Record>, _ prev: UnsafeMutablePointer<Record>?)
}

/// A list that keeps only its first record: pushes at the front, unlinks
/// anywhere. One word, where a head pointer sat (a bin's nonfull slabs, a
/// free-extent bucket, the huge cache); all zero is the empty list.
struct IntrusiveList<Links: ListLinks> {
  typealias Pointer = UnsafeMutablePointer<Links.Record>
  var first: Pointer? = nil

  @inline(__always) var isEmpty: Bool { first == nil }

  /// Makes `record`, on no list of these links, the first record.
  @inline(__always)
  mutating func pushFront(_ record: Pointer) {
    Links.setPrev(record, nil)
    Links.setNext(record, first)
    if let f = first { Links.setPrev(f, record) }
    first = record
  }

  /// Unlinks `record`, which is on this list, and clears its links.
  @inline(__always)
  mutating func remove(_ record: Pointer) {
    let p = Links.prev(record)
    let n = Links.next(record)
    invariant(p.map { Links.next($0) == record } ?? (first == record), "a list's links disagree (prev)")
    invariant(n.map { Links.prev($0) == record } ?? true, "a list's links disagree (next)")
    if let p { Links.setNext(p, n) } else { first = n }
    if let n { Links.setPrev(n, p) }
    Links.setNext(record, nil)
    Links.setPrev(record, nil)
  }
}

/// A list that keeps both ends: pushes at the back, so the front is the
/// oldest record (the decay LRU lists); unlinks anywhere.
struct IntrusiveQueue<Links: ListLinks> {
  typealias Pointer = UnsafeMutablePointer<Links.Record>
  var first: Pointer? = nil
  var last: Pointer? = nil

  @inline(__always) var isEmpty: Bool { first == nil }

  /// Makes `record`, on no list of these links, the last record.
  @inline(__always)
  mutating func pushBack(_ record: Pointer) {
    Links.setNext(record, nil)
    Links.setPrev(record, last)
    if let l = last { Links.setNext(l, record) } else { first = record }
    last = record
  }

  /// Unlinks `record`, which is on this list, and clears its links.
  @inline(__always)
  mutating func remove(_ record: Pointer) {
    let p = Links.prev(record)
    let n = Links.next(record)
    invariant(p.map { Links.next($0) == record } ?? (first == record), "a list's links disagree (prev)")
    invariant(n.map { Links.prev($0) == record } ?? (last == record), "a list's links disagree (next)")
    if let p { Links.setNext(p, n) } else { first = n }
    if let n { Links.setPrev(n, p) } else { last = p }
    Links.setNext(record, nil)
    Links.setPrev(record, nil)
  }
}
