import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A persistent pool of worker threads that every parallel kernel shares.
///
/// `parallelFor(n)` runs tasks `0..<n` on the calling thread and the workers. Workers spin for a
/// short while after a job (so back-to-back small kernels do not pay a wake-up), then sleep on a
/// condition variable, so an idle pool costs nothing and never competes with OpenBLAS's threads.
/// Kernels split work into tasks whose results do not depend on which thread runs them, so the
/// output is identical for every thread count.
public final class ThreadPool: @unchecked Sendable {
    /// The pool the kernels use, of `EngineSettings.current.threads` threads (set the settings,
    /// or use `EngineSettings.with`, to change the thread count).
    nonisolated(unsafe) public internal(set) static var shared = ThreadPool(
        threads: EngineSettings.startup.threads,
        spinMicroseconds: EngineSettings.startup.spinMicroseconds)

    /// How long idle workers spin before sleeping (`EngineSettings.spinMicroseconds`).
    public static var defaultSpinMicroseconds: Int { EngineSettings.startup.spinMicroseconds }

    public static var defaultThreadCount: Int { EngineSettings.startup.threads }

    /// Threads that compute, the caller included.
    public let threadCount: Int

    // state = (sequence << 32) | next task index, a seqlock over the job's parameters (taskCount,
    // bodyAddress). The caller makes the sequence odd, writes the parameters, then publishes the
    // job with the next even sequence. A worker reads the parameters between two loads of an even,
    // equal sequence (else it retries), and claims a task only by a compare-exchange against that
    // sequence: so it never runs a task with another job's parameters, and a late worker can never
    // run a task of a newer job.
    private let state = Atomic<UInt64>(0)
    private let done = Atomic<Int>(0)
    private let sleepers = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let taskCount = Atomic<Int>(0)
    // Address of the current job's closure box (`Job`). Workers dereference it only after
    // claiming a task of that job, and the caller waits for every claimed task to finish, so the
    // box outlives every use without workers retaining it.
    private let bodyAddress = Atomic<UInt>(0)
    private let mutex = NSCondition()
    private let spinNanoseconds: UInt64
    private var workers: [Thread] = []
    private let stopping = Atomic<Bool>(false)

    public init(threads: Int, spinMicroseconds: Int = 200) {
        threadCount = max(1, threads)
        spinNanoseconds = UInt64(max(0, spinMicroseconds)) * 1000
        for i in 1..<threadCount {
            let t = Thread { self.workerLoop() }  // workers keep the pool alive until shutdown()
            t.name = "grm-worker-\(i)"
            t.stackSize = 1 << 20
            workers.append(t)
            t.start()
        }
    }

    /// Stops the workers once they are idle, releasing the pool. Call it on a pool you replace;
    /// the pool must not be used afterwards.
    public func shutdown() {
        stopping.store(true, ordering: .sequentiallyConsistent)
        state.add(2 << 32, ordering: .sequentiallyConsistent)
        mutex.lock()
        mutex.broadcast()
        mutex.unlock()
    }

    /// Runs `body(i)` for every `i` in `0..<n`, in parallel, and returns when all are done.
    /// Nested or concurrent calls run serially on the calling thread.
    public func parallelFor(_ n: Int, _ body: (Int) -> Void) {
        if n <= 0 { return }
        if n == 1 || threadCount == 1
            || !busy.compareExchange(
                expected: false, desired: true,
                ordering: .acquiring
            ).exchanged
        {
            for i in 0..<n { body(i) }
            return
        }
        withoutActuallyEscaping(body) { escaping in
            let job = Job(escaping)
            withExtendedLifetime(job) {
                let address = Unmanaged.passUnretained(job).toOpaque()
                let sequence = state.load(ordering: .relaxed) >> 32  // even: no job being written
                state.store((sequence &+ 1) << 32, ordering: .sequentiallyConsistent)
                // Releasing stores: none may become visible before the odd sequence above.
                taskCount.store(n, ordering: .releasing)
                bodyAddress.store(UInt(bitPattern: address), ordering: .releasing)
                done.store(0, ordering: .releasing)
                let seq = sequence &+ 2
                state.store(seq << 32, ordering: .sequentiallyConsistent)
                if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                    mutex.lock()
                    mutex.broadcast()
                    mutex.unlock()
                }
                runTasks(job: seq, n: n, body: address)
                // Wait for tasks other threads claimed. On a loaded machine a worker may have been
                // descheduled mid-task: after a short spin, yield the core instead of burning it.
                var spins = 0
                while done.load(ordering: .acquiring) < n {
                    spins += 1
                    if spins > 2000 { sched_yield() } else { pause() }
                }
            }
        }
        busy.store(false, ordering: .releasing)
    }

    /// Splits `0..<count` into `parts` nearly equal ranges and runs them in parallel.
    /// The split depends only on `count` and `parts`, never on the thread count, unless the
    /// caller derives `parts` from it (which is fine where the result does not depend on the split).
    public func parallelRanges(_ count: Int, parts: Int, _ body: (Range<Int>) -> Void) {
        let p = max(1, min(parts, count))
        parallelFor(p) { i in
            body((count * i / p)..<(count * (i + 1) / p))
        }
    }

    private func runTasks(job: UInt64, n: Int, body: UnsafeMutableRawPointer) {
        var current = state.load(ordering: .acquiring)
        while true {
            guard current >> 32 == job else { return }
            let i = Int(current & 0xFFFF_FFFF)
            if i >= n { return }
            let (exchanged, original) = state.compareExchange(
                expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged {
                Self.run(body, i)
                done.add(1, ordering: .releasing)
                current = current + 1
            } else {
                current = original
            }
        }
    }

    /// Calls the job's closure through a borrowed reference to its box: no reference counting
    /// per task (both threads retaining one closure context would contend for its count's cache
    /// line on every task).
    @inline(never) private static func run(_ body: UnsafeMutableRawPointer, _ i: Int) {
        Unmanaged<Job>.fromOpaque(body)._withUnsafeGuaranteedRef { $0.body(i) }
    }

    /// A job's closure. The caller keeps the box alive until every claimed task is done.
    private final class Job {
        let body: (Int) -> Void
        init(_ body: @escaping (Int) -> Void) { self.body = body }
    }

    private func workerLoop() {
        // The sequence the pool started with, not the current one: a worker that starts after the
        // first job was published must still take part in it.
        var seen: UInt64 = 0
        while true {
            // Wait for a new job: spin first, then sleep.
            let start = DispatchTime.now().uptimeNanoseconds
            var spins = 0
            while state.load(ordering: .acquiring) >> 32 == seen {
                pause()
                spins += 1
                if spins & 255 == 0, DispatchTime.now().uptimeNanoseconds - start > spinNanoseconds {
                    mutex.lock()
                    sleepers.add(1, ordering: .sequentiallyConsistent)
                    while state.load(ordering: .sequentiallyConsistent) >> 32 == seen { mutex.wait() }
                    sleepers.subtract(1, ordering: .sequentiallyConsistent)
                    mutex.unlock()
                }
            }
            if stopping.load(ordering: .acquiring) { return }
            let job = state.load(ordering: .acquiring) >> 32
            if job & 1 == 1 { continue }  // parameters being written: look again
            let address = bodyAddress.load(ordering: .acquiring)
            let n = taskCount.load(ordering: .acquiring)
            // Parameters are this job's only if the sequence did not move while they were read.
            guard state.load(ordering: .acquiring) >> 32 == job else { continue }
            seen = job
            guard let body = UnsafeMutableRawPointer(bitPattern: address) else { continue }
            runTasks(job: job, n: n, body: body)
        }
    }

    /// A spin-wait step. (x86's PAUSE is a compiler builtin that Swift cannot call; an atomic
    /// load per iteration keeps the loop polite enough on cores without SMT siblings.)
    @inline(__always) private func pause() {}
}
