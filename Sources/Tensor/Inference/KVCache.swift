import Foundation

/// Element type of a key/value cache.
public enum KVCacheType: String, Sendable, Codable, CaseIterable {
    case f32, f16

    public var bytes: Int { self == .f32 ? 4 : 2 }
}

/// The keys and values of up to `capacity` consecutive positions, for every layer: one
/// preallocated buffer per layer and per K/V, `[capacity, kvDim]` each (rows are positions).
/// Pages the sequence never reaches are never touched, so a block sized to the model's whole
/// context costs address space, not resident memory.
public final class KVBlock: @unchecked Sendable {
    public let layers: Int
    public let kvDim: Int
    public let capacity: Int
    public let type: KVCacheType
    /// Positions written and committed.
    public internal(set) var count = 0
    let keys: UnsafeMutableRawPointer
    let values: UnsafeMutableRawPointer

    init(layers: Int, kvDim: Int, capacity: Int, type: KVCacheType) {
        self.layers = layers
        self.kvDim = kvDim
        self.capacity = capacity
        self.type = type
        let bytes = max(1, layers * capacity * kvDim * type.bytes)
        keys = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        values = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    /// Byte offset of `position`'s row in `layer`.
    @inline(__always) func rowOffset(layer: Int, position: Int) -> Int {
        ((layer * capacity) + position) * kvDim * type.bytes
    }

    public var byteCount: Int { 2 * layers * capacity * kvDim * type.bytes }
}

/// Errors of the key/value cache.
public enum KVCacheError: Error, CustomStringConvertible, Equatable {
    case full(needed: Int, capacity: Int, context: Int)
    case invalid(String)

    public var description: String {
        switch self {
        case .full(let needed, let capacity, let context):
            return "the sequence needs \(needed) positions but its cache holds \(capacity) (context \(context))"
        case .invalid(let s):
            return "KV cache: \(s)"
        }
    }
}

/// One sequence's view of the cache: frozen prefixes it shares with other sequences (each a block
/// and how many of its positions this sequence sees), then a block of its own that grows.
///
/// `fork` gives a new sequence that sees all of this one's positions without copying them: k
/// samples of one prompt share the prompt's keys and values, and each writes only its own tokens.
/// A forked-from sequence may keep growing; its children still see only the positions it had.
public final class KVSequence: @unchecked Sendable {
    public let layers: Int
    public let kvDim: Int
    public let type: KVCacheType
    /// The model's context: no sequence may hold more positions.
    public let context: Int
    /// Shared ancestors: (block, visible positions), oldest first.
    public let prefix: [(block: KVBlock, count: Int)]
    public let own: KVBlock
    /// Positions written by `write` since the last `commit` (the rows of the current forward pass).
    public internal(set) var pending = 0

    /// A new, empty sequence with room for `capacity` positions (default: the whole context).
    public convenience init(layers: Int, kvDim: Int, context: Int, capacity: Int? = nil, type: KVCacheType = .f32) throws {
        guard layers > 0, kvDim > 0, context > 0 else {
            throw KVCacheError.invalid("layers \(layers), kvDim \(kvDim) and context \(context) must be positive")
        }
        let cap = min(capacity ?? context, context)
        guard cap > 0 else { throw KVCacheError.invalid("capacity \(capacity ?? 0) must be positive") }
        self.init(
            layers: layers, kvDim: kvDim, context: context, type: type, prefix: [],
            own: KVBlock(layers: layers, kvDim: kvDim, capacity: cap, type: type))
    }

    init(layers: Int, kvDim: Int, context: Int, type: KVCacheType, prefix: [(block: KVBlock, count: Int)], own: KVBlock) {
        self.layers = layers
        self.kvDim = kvDim
        self.context = context
        self.type = type
        self.prefix = prefix
        self.own = own
        prefixLength = prefix.reduce(0) { $0 + $1.count }
    }

    public let prefixLength: Int

    /// Committed positions (the position of the next token).
    public var length: Int { prefixLength + own.count }

    /// Positions this sequence can still take.
    public var remaining: Int { min(own.capacity - own.count, context - length) }

    /// A sequence that shares every committed position of this one and has room for `capacity`
    /// more of its own (default: the rest of the context).
    public func fork(capacity: Int? = nil) throws -> KVSequence {
        try fork(at: length, capacity: capacity)
    }

    /// A sequence that shares this one's first `position` committed positions (a common prefix of
    /// two prompts) and has room for `capacity` more of its own (default: the rest of the context).
    public func fork(at position: Int, capacity: Int? = nil) throws -> KVSequence {
        guard pending == 0 else { throw KVCacheError.invalid("cannot fork a sequence in the middle of a forward pass") }
        guard position >= 0, position <= length else {
            throw KVCacheError.invalid("cannot fork at position \(position) of a sequence of length \(length)")
        }
        let room = context - position
        let cap = min(capacity ?? room, room)
        guard cap > 0 else { throw KVCacheError.full(needed: position + 1, capacity: position, context: context) }
        var shared: [(block: KVBlock, count: Int)] = []
        var left = position
        for part in prefix + [(block: own, count: own.count)] where left > 0 {
            let n = min(part.count, left)
            if n > 0 { shared.append((part.block, n)) }
            left -= n
        }
        return KVSequence(
            layers: layers, kvDim: kvDim, context: context, type: type, prefix: shared,
            own: KVBlock(layers: layers, kvDim: kvDim, capacity: cap, type: type))
    }

    /// Checks that `tokens` more positions fit.
    public func reserve(_ tokens: Int) throws {
        guard tokens <= remaining else {
            throw KVCacheError.full(needed: length + tokens, capacity: prefixLength + own.capacity, context: context)
        }
    }

    /// Stores the key and value rows (`kvDim` f32 each) of pending position `row` (0-based from
    /// `length`) for `layer`.
    func write(layer: Int, row: Int, key: UnsafePointer<Float>, value: UnsafePointer<Float>) {
        let position = own.count + row
        precondition(position < own.capacity && layer < layers, "KVSequence.write past the reserved positions")
        let offset = own.rowOffset(layer: layer, position: position)
        switch type {
        case .f32:
            (own.keys + offset).assumingMemoryBound(to: Float.self).update(from: key, count: kvDim)
            (own.values + offset).assumingMemoryBound(to: Float.self).update(from: value, count: kvDim)
        case .f16:
            // (Rows far below Bulk's 64 K-value grain: converted on the calling thread.)
            Half.fromFloat(key, (own.keys + offset).assumingMemoryBound(to: UInt16.self), count: kvDim)
            Half.fromFloat(value, (own.values + offset).assumingMemoryBound(to: UInt16.self), count: kvDim)
        }
    }

    /// Makes `tokens` pending positions part of the sequence (after every layer wrote them).
    public func commit(_ tokens: Int) {
        precondition(own.count + tokens <= own.capacity, "KVSequence.commit past the capacity")
        own.count += tokens
        pending = 0
    }

    /// Drops positions written by an unfinished forward pass (after an error).
    public func discardPending() { pending = 0 }

    /// Forgets this sequence's own positions from `position` on (shared prefixes stay).
    public func truncate(to position: Int) throws {
        guard position >= prefixLength, position <= length else {
            throw KVCacheError.invalid("cannot truncate to \(position): shared prefix \(prefixLength), length \(length)")
        }
        own.count = position - prefixLength
        pending = 0
    }

    /// The parts attention reads for layer `layer`, with `extra` pending positions of the own
    /// block: (keys, values, positions) per part, in position order.
    func parts(layer: Int, extra: Int) -> [(keys: UnsafeRawPointer, values: UnsafeRawPointer, count: Int)] {
        var out: [(keys: UnsafeRawPointer, values: UnsafeRawPointer, count: Int)] = []
        out.reserveCapacity(prefix.count + 1)
        for p in prefix where p.count > 0 {
            let o = p.block.rowOffset(layer: layer, position: 0)
            out.append((UnsafeRawPointer(p.block.keys + o), UnsafeRawPointer(p.block.values + o), p.count))
        }
        let o = own.rowOffset(layer: layer, position: 0)
        out.append((UnsafeRawPointer(own.keys + o), UnsafeRawPointer(own.values + o), own.count + extra))
        return out
    }
}
