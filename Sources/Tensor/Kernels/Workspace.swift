import Foundation

/// Reusable, 64-byte aligned scratch buffers for packing. A call takes a buffer, uses it and
/// gives it back; buffers are kept (and grown when too small), so steady-state GEMMs allocate
/// nothing. There are never more buffers than concurrent users (about threads + 1).
final class Workspace: @unchecked Sendable {
    static let shared = Workspace()

    struct Buffer {
        let floats: UnsafeMutablePointer<Float>
        let capacity: Int
    }

    private let lock = NSLock()
    private var free: [Buffer] = []

    func acquire(floats count: Int) -> Buffer {
        let need = max(count, 16)
        lock.lock()
        // Best fit; if nothing fits, the largest free buffer is replaced (keeping the count bounded).
        var picked: Buffer? = nil
        var best = -1, largest = -1
        for (i, f) in free.enumerated() {
            if f.capacity >= need, best < 0 || f.capacity < free[best].capacity { best = i }
            if largest < 0 || f.capacity > free[largest].capacity { largest = i }
        }
        if best >= 0 {
            picked = free.remove(at: best)
        } else if largest >= 0 {
            free.remove(at: largest).floats.deallocate()
        }
        lock.unlock()
        if let picked { return picked }
        let p = UnsafeMutableRawPointer.allocate(byteCount: need * 4, alignment: 64)
        return Buffer(floats: p.bindMemory(to: Float.self, capacity: need), capacity: need)
    }

    func release(_ buffer: Buffer) {
        lock.lock()
        free.append(buffer)
        lock.unlock()
    }
}
