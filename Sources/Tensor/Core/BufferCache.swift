import Foundation
import Synchronization

/// Large freed tensor buffers, kept for the next allocation of the same size class.
///
/// Training allocates and frees the same large activations and gradients every step. glibc serves
/// allocations above its mmap threshold with fresh pages and returns them to the kernel on free,
/// so every step would pay for page faults and for the kernel zeroing every page it hands out (a
/// large share of a training step; docs/performance.md). Buffers of at least `minimumBytes` are therefore rounded up to
/// a size class (at most 1/8 larger than asked) and, when freed, kept here until a request of the
/// same class takes them, up to `limit` bytes in all: a freed buffer that would not fit makes room
/// by returning the buffers freed longest ago to the system (so classes nobody asks for any more
/// do not hold the memory). `trim()` releases everything kept.
///
/// `GRM_BUFFER_CACHE_MB` sets the limit (0 turns caching off); the default is a quarter of the
/// physical memory, at most 8 GiB.
public final class BufferCache: @unchecked Sendable {
    /// The cache every `Storage` allocation goes through.
    public static let shared = BufferCache(limit: BufferCache.defaultLimit)

    /// Buffers below this size go straight to the system allocator (its own free lists reuse them).
    public static let minimumBytes = 1 << 18

    /// `EngineSettings.bufferCacheBytes` (`GRM_BUFFER_CACHE_MB`, default a quarter of RAM, at most 8 GiB).
    public static var defaultLimit: Int { EngineSettings.startup.bufferCacheBytes }

    /// What the cache holds and how it has been used.
    public struct Statistics: Equatable, Sendable {
        /// Bytes held for reuse now, and in how many buffers.
        public var cachedBytes = 0, cachedBuffers = 0
        /// Allocations served from the cache, and large allocations that were not.
        public var hits = 0, misses = 0
    }

    private struct State {
        /// Size class -> freed buffers (address, release order), oldest first.
        var free: [Int: [(address: UInt, order: UInt64)]] = [:]
        var releases: UInt64 = 0
        var stats = Statistics()
        var limit: Int
    }

    private let state: Mutex<State>

    public init(limit: Int) {
        state = Mutex(State(limit: max(0, limit)))
    }

    /// The largest number of bytes the cache keeps (changing it trims what no longer fits).
    public var limit: Int {
        get { state.withLock { $0.limit } }
        set {
            state.withLock { $0.limit = max(0, newValue) }
            trim(to: newValue)
        }
    }

    public var statistics: Statistics { state.withLock { $0.stats } }

    /// The bytes actually reserved for a request of `byteCount`: whole size classes from
    /// `minimumBytes` up (the power of two at or below the size, in steps of an eighth of it).
    public static func sizeClass(_ byteCount: Int) -> Int {
        let n = max(byteCount, 1)
        guard n >= minimumBytes else { return n }
        let top = Int.bitWidth - 1 - n.leadingZeroBitCount
        let step = 1 << (top - 3)
        return (n + step - 1) / step * step
    }

    /// The alignment of every buffer (requests may ask for any power of two up to it).
    public static let alignment = 64

    /// A buffer of at least `byteCount` bytes (contents undefined), aligned to `alignment` (at most
    /// `BufferCache.alignment`), and its capacity, which must be passed back to `release`.
    public func allocate(byteCount: Int, alignment: Int) -> (pointer: UnsafeMutableRawPointer, capacity: Int) {
        precondition(
            alignment > 0 && alignment & (alignment - 1) == 0 && alignment <= BufferCache.alignment,
            "BufferCache: alignment \(alignment) is not a power of two up to \(BufferCache.alignment)")
        let capacity = BufferCache.sizeClass(byteCount)
        if capacity >= BufferCache.minimumBytes {
            let reused: UInt? = state.withLock { s in
                guard let address = s.free[capacity]?.popLast()?.address else {
                    s.stats.misses += 1
                    return nil
                }
                // Eviction reads each class's oldest buffer: a class left empty must not stay listed.
                if s.free[capacity]?.isEmpty == true { s.free[capacity] = nil }
                s.stats.hits += 1
                s.stats.cachedBytes -= capacity
                s.stats.cachedBuffers -= 1
                return address
            }
            if let reused, let p = UnsafeMutableRawPointer(bitPattern: reused) { return (p, capacity) }
        }
        return (UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: BufferCache.alignment), capacity)
    }

    /// Takes back a buffer from `allocate`: kept for reuse if large and within the limit, else freed.
    public func release(_ pointer: UnsafeMutableRawPointer, capacity: Int) {
        if capacity >= BufferCache.minimumBytes {
            let (kept, evicted) = state.withLock { s -> (Bool, [UInt]) in
                guard capacity <= s.limit else { return (false, []) }
                var evicted: [UInt] = []
                while s.stats.cachedBytes + capacity > s.limit {
                    // The buffer freed longest ago: the first of some class.
                    guard
                        let c = s.free.filter({ !$0.value.isEmpty })
                            .min(by: { $0.value[0].order < $1.value[0].order })?.key
                    else { break }
                    evicted.append(s.free[c]!.removeFirst().address)
                    if s.free[c]!.isEmpty { s.free[c] = nil }
                    s.stats.cachedBytes -= c
                    s.stats.cachedBuffers -= 1
                }
                s.releases += 1
                s.free[capacity, default: []].append((UInt(bitPattern: pointer), s.releases))
                s.stats.cachedBytes += capacity
                s.stats.cachedBuffers += 1
                return (true, evicted)
            }
            for a in evicted { UnsafeMutableRawPointer(bitPattern: a)?.deallocate() }
            if kept { return }
        }
        pointer.deallocate()
    }

    /// Returns every kept buffer to the system.
    public func trim() { trim(to: 0) }

    private func trim(to bytes: Int) {
        let freed: [UInt] = state.withLock { s in
            var out: [UInt] = []
            // Largest classes first: the fewest buffers to give back the most memory.
            for c in s.free.keys.sorted(by: >) where s.stats.cachedBytes > bytes {
                while s.stats.cachedBytes > bytes, let a = s.free[c]?.popLast() {
                    out.append(a.address)
                    s.stats.cachedBytes -= c
                    s.stats.cachedBuffers -= 1
                }
                if s.free[c]?.isEmpty == true { s.free[c] = nil }
            }
            return out
        }
        for a in freed { UnsafeMutableRawPointer(bitPattern: a)?.deallocate() }
    }
}
