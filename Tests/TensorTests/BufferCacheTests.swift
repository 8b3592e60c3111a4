import Foundation
import XCTest
@testable import Tensor

/// The large-buffer cache behind Storage: size classes, reuse, the limit, trimming, and zeroed
/// storage staying zeroed when it reuses a dirty buffer.
final class BufferCacheTests: XCTestCase {
    func testSizeClassesRoundUpByAtMostAnEighth() {
        XCTAssertEqual(BufferCache.sizeClass(0), 1)
        XCTAssertEqual(BufferCache.sizeClass(1000), 1000)  // small: exact, the system allocator's business
        let m = BufferCache.minimumBytes
        XCTAssertEqual(BufferCache.sizeClass(m), m)
        XCTAssertEqual(BufferCache.sizeClass(m + 1), m + m / 8)
        for n in [m, m + 1, 3 * m - 7, 201_326_592, 6_291_456 + 5, 123_456_789] {
            let c = BufferCache.sizeClass(n)
            XCTAssertGreaterThanOrEqual(c, n)
            XCTAssertLessThanOrEqual(Double(c), Double(n) * 1.125 + 1)
            XCTAssertEqual(BufferCache.sizeClass(c), c, "a class is its own class")
            XCTAssertEqual(c % 4096, 0, "classes are whole pages")
        }
    }

    /// A class whose buffers were all taken again must not be picked for eviction (it was, and
    /// reading its oldest buffer crashed a long SFT run).
    func testEvictionSkipsClassesEmptiedByReuse() {
        let cache = BufferCache(limit: 2 << 20)
        let (a, ca) = cache.allocate(byteCount: 1 << 20, alignment: 64)
        cache.release(a, capacity: ca)
        let (b, cb) = cache.allocate(byteCount: 1 << 20, alignment: 64)  // the 1 MB class is now empty
        let (c, cc) = cache.allocate(byteCount: 3 << 19, alignment: 64)
        cache.release(c, capacity: cc)
        let (d, cd) = cache.allocate(byteCount: 1 << 19, alignment: 64)
        cache.release(d, capacity: cd)  // 1.5 + 0.5 MB: at the limit
        cache.release(b, capacity: cb)  // evicts c, the oldest of the classes that hold buffers
        XCTAssertEqual(cache.statistics.cachedBytes, (1 << 20) + (1 << 19))
        XCTAssertEqual(cache.statistics.cachedBuffers, 2)
        cache.trim()
    }

    func testFreedBuffersAreReusedWithinTheLimit() {
        let cache = BufferCache(limit: 3 << 20)
        let (a, ca) = cache.allocate(byteCount: 1 << 20, alignment: 64)
        XCTAssertEqual(Int(bitPattern: a) % 64, 0)
        cache.release(a, capacity: ca)
        XCTAssertEqual(cache.statistics, .init(cachedBytes: 1 << 20, cachedBuffers: 1, hits: 0, misses: 1))
        // A request of the same class gets the same buffer back; another class does not.
        let (b, cb) = cache.allocate(byteCount: (1 << 20) - 100, alignment: 64)
        XCTAssertEqual(b, a)
        XCTAssertEqual(cb, ca)
        let (c, cc) = cache.allocate(byteCount: 2 << 20, alignment: 64)
        XCTAssertEqual(cache.statistics, .init(cachedBytes: 0, cachedBuffers: 0, hits: 1, misses: 2))
        cache.release(b, capacity: cb)
        cache.release(c, capacity: cc)
        XCTAssertEqual(cache.statistics.cachedBytes, 3 << 20)
        // Over the limit: the buffer freed longest ago (b, 1 MB) makes room for the new one.
        let (d, cd) = cache.allocate(byteCount: 1 << 19, alignment: 64)
        cache.release(d, capacity: cd)
        XCTAssertEqual(cache.statistics.cachedBytes, (2 << 20) + (1 << 19))
        XCTAssertEqual(cache.statistics.cachedBuffers, 2)
        let (e2, ce2) = cache.allocate(byteCount: 1 << 20, alignment: 64)
        XCTAssertEqual(cache.statistics.hits, 1, "b was given back to the system")
        cache.release(e2, capacity: ce2)
        // c (2 MB, freed before d) made room for it: d and e2 remain.
        XCTAssertEqual(cache.statistics.cachedBytes, (1 << 20) + (1 << 19))
        XCTAssertEqual(cache.statistics.cachedBuffers, 2)
        // A buffer larger than the limit is never kept.
        let (f, cf) = cache.allocate(byteCount: 4 << 20, alignment: 64)
        cache.release(f, capacity: cf)
        XCTAssertEqual(cache.statistics.cachedBytes, (1 << 20) + (1 << 19))
        // Lowering the limit trims the largest first; trim() empties it.
        cache.limit = 1 << 20
        XCTAssertEqual(cache.statistics.cachedBytes, 1 << 19)
        cache.trim()
        XCTAssertEqual(cache.statistics.cachedBytes, 0)
        XCTAssertEqual(cache.statistics.cachedBuffers, 0)
        // Small buffers never enter the cache.
        let (e, ce) = cache.allocate(byteCount: 4096, alignment: 64)
        cache.release(e, capacity: ce)
        XCTAssertEqual(cache.statistics.cachedBuffers, 0)
    }

    func testZeroedTensorsStayZeroedWhenReusingDirtyBuffers() {
        let shape = [300, 1000]  // 1.2 MB: cached
        let hitsBefore = BufferCache.shared.statistics.hits
        for round in 0..<3 {
            do {
                let dirty = Tensor.uninitialized(shape)
                dirty.floatPointer.update(repeating: Float(round + 1), count: dirty.count)
            }
            let z = Tensor(zeros: shape)
            XCTAssertTrue(z.scalars().allSatisfy { $0 == 0 }, "round \(round)")
        }
        if BufferCache.shared.limit > 0 {
            XCTAssertGreaterThan(BufferCache.shared.statistics.hits, hitsBefore)
        }
    }

    func testConcurrentAllocationAndRelease() {
        let cache = BufferCache(limit: 64 << 20)
        DispatchQueue.concurrentPerform(iterations: 8) { t in
            var held: [(UnsafeMutableRawPointer, Int)] = []
            for i in 0..<200 {
                let (p, c) = cache.allocate(byteCount: (1 << 18) * (1 + (i + t) % 5), alignment: 64)
                p.storeBytes(of: UInt64(t), as: UInt64.self)
                held.append((p, c))
                if held.count > 3 {
                    let (q, cq) = held.removeFirst()
                    XCTAssertEqual(q.load(as: UInt64.self), UInt64(t), "a buffer was handed out twice")
                    cache.release(q, capacity: cq)
                }
            }
            for (q, cq) in held { cache.release(q, capacity: cq) }
        }
        let s = cache.statistics
        XCTAssertEqual(s.hits + s.misses, 8 * 200)
        XCTAssertGreaterThan(s.hits, 0)
        cache.trim()
        XCTAssertEqual(cache.statistics.cachedBytes, 0)
    }
}
