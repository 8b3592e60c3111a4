import Foundation

/// A reference-counted, 64-byte aligned buffer that tensors view.
///
/// Storage either owns its memory (allocated here, freed on deinit) or borrows memory that an
/// owner object keeps alive, such as a memory-mapped model file: views over it cost no copy.
public final class Storage: @unchecked Sendable {
    public let base: UnsafeMutableRawPointer
    public let byteCount: Int
    private let owner: AnyObject?
    private let owns: Bool

    public static let alignment = 64

    /// Allocates `byteCount` zeroed bytes.
    public init(byteCount: Int) {
        self.byteCount = byteCount
        base = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: Storage.alignment)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1))
        owner = nil
        owns = true
    }

    /// Allocates `byteCount` bytes without clearing them (for outputs every byte of which is written).
    public init(uninitializedByteCount byteCount: Int) {
        self.byteCount = byteCount
        base = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: Storage.alignment)
        owner = nil
        owns = true
    }

    /// Borrows memory that `owner` keeps alive (a mapped file, say).
    public init(borrowing base: UnsafeMutableRawPointer, byteCount: Int, owner: AnyObject?) {
        self.base = base
        self.byteCount = byteCount
        self.owner = owner
        owns = false
    }

    deinit {
        if owns { base.deallocate() }
    }

    @inline(__always) public func floats() -> UnsafeMutablePointer<Float> {
        base.assumingMemoryBound(to: Float.self)
    }
}
