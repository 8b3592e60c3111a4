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
    /// Bytes reserved for an owned buffer (its size class in `BufferCache`).
    private let capacity: Int

    public static let alignment = 64

    /// A layout derived from bytes of this storage: which bytes (`offset`, a `dtype` matrix
    /// [`n`, `k`]) and which layout. Built on every product that uses it, so nothing in it allocates.
    struct DerivedKey: Hashable {
        enum Layout: Hashable {
            /// `Q8Panels`.
            case q8Panels
            /// `Tensor.bf16Panels`.
            case bf16Panels
            /// `Tensor.fusedScales`.
            case fusedScales
        }
        let offset: Int, dtype: DType, n: Int, k: Int, layout: Layout
    }
    private let derivedLock = NSLock()
    private var derivedLayouts: [DerivedKey: Storage] = [:]

    /// The derived layout for `key`: made once (`make` fills `byteCount` bytes), then kept as
    /// long as this storage. The bytes it derives from must not change afterwards (block-quantised
    /// weights are not written in place once products use them).
    func derived(_ key: DerivedKey, byteCount: Int, make: (UnsafeMutableRawPointer) -> Void) -> Storage {
        derivedLock.lock()
        defer { derivedLock.unlock() }
        if let d = derivedLayouts[key] { return d }
        let d = Storage(uninitializedByteCount: byteCount)
        make(d.base)
        derivedLayouts[key] = d
        return d
    }

    /// Allocates `byteCount` zeroed bytes.
    public convenience init(byteCount: Int) {
        self.init(uninitializedByteCount: byteCount)
        base.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1))
    }

    /// Allocates `byteCount` bytes without clearing them (for outputs every byte of which is written).
    /// Large buffers come from `BufferCache.shared`, which reuses freed ones.
    public init(uninitializedByteCount byteCount: Int) {
        self.byteCount = byteCount
        (base, capacity) = BufferCache.shared.allocate(byteCount: byteCount, alignment: Storage.alignment)
        owner = nil
        owns = true
    }

    /// Borrows memory that `owner` keeps alive (a mapped file, say).
    public init(borrowing base: UnsafeMutableRawPointer, byteCount: Int, owner: AnyObject?) {
        self.base = base
        self.byteCount = byteCount
        self.owner = owner
        owns = false
        capacity = 0
    }

    deinit {
        if owns { BufferCache.shared.release(base, capacity: capacity) }
    }

    @inline(__always) public func floats() -> UnsafeMutablePointer<Float> {
        base.assumingMemoryBound(to: Float.self)
    }
}
