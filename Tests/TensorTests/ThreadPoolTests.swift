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
                XCTAssertEqual(Array(UnsafeBufferPointer(start: counts, count: n)), [Int](repeating: 1, count: n),
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
}
