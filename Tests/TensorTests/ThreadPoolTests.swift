import XCTest
@testable import Tensor

final class ThreadPoolTests: XCTestCase {
    func testEveryTaskRunsOnce() {
        for threads in [1, 2, 3, 5] {
            let pool = ThreadPool(threads: threads)
            for n in [0, 1, 2, 7, 100, 1000] {
                let counts = UnsafeMutablePointer<Int>.allocate(capacity: max(n, 1))
                counts.initialize(repeating: 0, count: max(n, 1))
                pool.parallelFor(n) { i in counts[i] += 1 }
                XCTAssertEqual(
                    Array(UnsafeBufferPointer(start: counts, count: n)), [Int](repeating: 1, count: n),
                    "threads \(threads), n \(n)")
                counts.deallocate()
            }
            pool.shutdown()
        }
    }

    func testManySmallJobsBackToBack() {
        let pool = ThreadPool(threads: 3, spinMicroseconds: 50)
        let sums = UnsafeMutablePointer<Int>.allocate(capacity: 4)
        var total = 0
        for job in 0..<20000 {
            sums.initialize(repeating: 0, count: 4)
            pool.parallelFor(4) { i in sums[i] = i + job }
            total += sums[0] + sums[1] + sums[2] + sums[3]
        }
        sums.deallocate()
        XCTAssertEqual(total, (0..<20000).reduce(0) { $0 + 4 * $1 + 6 })
        pool.shutdown()
    }

    /// Back-to-back jobs whose task counts vary, so that a worker late for one job meets the next
    /// job's parameters: every task of every job must run exactly once, with its own job's body.
    func testVaryingJobSizesNeverMixJobs() {
        let pool = ThreadPool(threads: 3, spinMicroseconds: 20)
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: 64)
        var wrong = 0
        for job in 0..<100_000 {
            let n = 2 + (job * 7919) % 31
            counts.initialize(repeating: 0, count: 64)
            pool.parallelFor(n) { i in
                if i >= n { wrong += 1 } else { counts[i] += 1 }
            }
            for i in 0..<64 where counts[i] != (i < n ? 1 : 0) { wrong += 1 }
        }
        counts.deallocate()
        XCTAssertEqual(wrong, 0)
        pool.shutdown()
    }

    func testWorkersWakeAfterSleeping() throws {
        let pool = ThreadPool(threads: 2, spinMicroseconds: 0)
        Thread.sleep(forTimeInterval: 0.05)
        var seen = [Int](repeating: 0, count: 64)
        seen.withUnsafeMutableBufferPointer { buf in
            pool.parallelFor(64) { i in buf[i] = i * i }
        }
        XCTAssertEqual(seen, (0..<64).map { $0 * $0 })
        pool.shutdown()
    }

    func testNestedCallsRunSerially() {
        let pool = ThreadPool(threads: 2)
        let grid = UnsafeMutablePointer<Int>.allocate(capacity: 64)
        grid.initialize(repeating: 0, count: 64)
        pool.parallelFor(8) { i in
            pool.parallelFor(8) { j in grid[i * 8 + j] += 1 }
        }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: grid, count: 64)), [Int](repeating: 1, count: 64))
        grid.deallocate()
        pool.shutdown()
    }

    /// Every worker takes part in a job: each task waits (up to 2 s) until tasks have run on as many
    /// threads as the pool has, so a worker that never claims tasks fails the test rather than
    /// only slowing it down. Jobs follow one another as a model's products do.
    func testEveryThreadTakesPartInJobs() {
        for threads in [2, 3] {
            let pool = ThreadPool(threads: threads)
            for job in 0..<50 {
                let seen = UnsafeMutablePointer<UInt>.allocate(capacity: threads)
                seen.initialize(repeating: 0, count: threads)
                let lock = NSLock()
                var distinct = 0
                let deadline = DispatchTime.now().uptimeNanoseconds + 2_000_000_000
                pool.parallelFor(4 * threads) { _ in
                    let me = UInt(bitPattern: Int(bitPattern: UnsafeRawPointer(bitPattern: UInt(pthread_self()))))
                    lock.lock()
                    if !(0..<distinct).contains(where: { seen[$0] == me }) && distinct < threads {
                        seen[distinct] = me
                        distinct += 1
                    }
                    lock.unlock()
                    while DispatchTime.now().uptimeNanoseconds < deadline {
                        lock.lock()
                        let d = distinct
                        lock.unlock()
                        if d == threads { break }
                    }
                }
                XCTAssertEqual(distinct, threads, "threads \(threads), job \(job): tasks ran on \(distinct) threads")
                seen.deallocate()
                if distinct != threads { break }
            }
            pool.shutdown()
        }
    }
}

/// The products that decoding runs split into several tasks (Swift's `>>` binds tighter than `*`:
/// `n * k >> 15` was n * (k >> 15), one task for every k below 32768, so decoding ran on one thread).
final class KernelSplitTests: XCTestCase {
    func testSmallProductsSplitIntoSeveralTasks() {
        // Quantised products: every thread takes part (at most two tasks each, a multiple of the
        // thread count), tiny products stay whole, and never more tasks than row groups.
        let t = ThreadPool.shared.threadCount
        for (units, n, k) in [(144, 576, 576), (12288, 49152, 576), (240, 960, 576)] {
            let tasks = QuantMatmul.rowTasks(units: units, n: n, k: k)
            XCTAssertTrue(
                tasks >= min(t, 10) && tasks <= 2 * t && (tasks <= t || tasks % t == 0),
                "\(n) x \(k) on \(t) threads: \(tasks) tasks")
        }
        if t == 2 { XCTAssertEqual(QuantMatmul.rowTasks(units: 144, n: 576, k: 576), 4) }
        XCTAssertEqual(QuantMatmul.rowTasks(units: 2, n: 8, k: 32), 1)
        let few = QuantMatmul.rowTasks(units: 3, n: 12, k: 1 << 20)
        XCTAssertTrue(few <= 3 && (few <= t || few % t == 0), "3 row groups on \(t) threads: \(few) tasks")
        // The f32 small path (m <= 8): one task per ~128 Kflop, at most 16.
        XCTAssertEqual(GEMM.smallTasks(units: 144, m: 1, n: 576, k: 576), 5)
        XCTAssertEqual(GEMM.smallTasks(units: 384, m: 8, n: 1536, k: 576), 16)
        XCTAssertEqual(GEMM.smallTasks(units: 2, m: 1, n: 8, k: 64), 1)
    }
}
