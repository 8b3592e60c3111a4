import Foundation
import Tensor

/// SHA-256 (FIPS 180-4), for naming the exact base file a trained artifact belongs to. The block
/// function is `SHA256Blocks` (the SHA extensions where the CPU has them).
public struct SHA256 {
    private var state = SHA256Blocks.initial
    /// Bytes of a block not yet complete (fewer than 64).
    private var pending: [UInt8] = []
    private var length: UInt64 = 0

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        length &+= UInt64(bytes.count)
        var i = 0
        if !pending.isEmpty {
            let take = Swift.min(64 - pending.count, bytes.count)
            pending.append(contentsOf: UnsafeRawBufferPointer(start: base, count: take))
            i = take
            if pending.count == 64 {
                pending.withUnsafeBytes { SHA256Blocks.compress(&state, $0.baseAddress!, blocks: 1) }
                pending.removeAll(keepingCapacity: true)
            }
        }
        let blocks = (bytes.count - i) / 64
        if blocks > 0 {
            SHA256Blocks.compress(&state, base + i, blocks: blocks)
            i += 64 * blocks
        }
        if i < bytes.count { pending.append(contentsOf: UnsafeRawBufferPointer(start: base + i, count: bytes.count - i)) }
    }

    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// The digest as 64 lowercase hex digits.
    public mutating func finalize() -> String {
        let bits = length &* 8
        var tail: [UInt8] = [0x80]
        while (pending.count + tail.count) % 64 != 56 { tail.append(0) }
        for s in stride(from: 56, through: 0, by: -8) { tail.append(UInt8(truncatingIfNeeded: bits >> UInt64(s))) }
        let savedLength = length
        update(tail)
        length = savedLength
        return (0..<8).map { String(format: "%08x", state[$0]) }.joined()
    }

    /// The SHA-256 of a file's bytes: remembered in `cache` while the file is unchanged
    /// (`DigestCache`), else read through its mapping.
    public static func file(_ path: String, cache: DigestCache = .shared) throws -> String {
        try cache.digest(of: path) { try reading(path) }
    }

    /// The SHA-256 of a file's bytes, read through its mapping.
    public static func reading(_ path: String) throws -> String {
        let bytes = try GGUFBytes.map(path: path)
        var s = SHA256()
        s.update(UnsafeRawBufferPointer(start: bytes.base, count: bytes.count))
        return s.finalize()
    }
}
