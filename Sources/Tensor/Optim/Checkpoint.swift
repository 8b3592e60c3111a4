import Foundation

/// A training checkpoint: named f32 tensors (parameters, optimiser state), integer counters
/// (step, optimiser steps) and string metadata, in one file written atomically.
///
/// Format (little-endian), version 1 — a stopgap until the GGUF writer lands, after which
/// parameters can move to GGUF with the optimiser state beside them:
///   8 bytes  magic "GRMCKPT1"
///   8 bytes  header length H (UInt64)
///   H bytes  JSON header: {version, step, counters, metadata, tensors: [{name, shape, offset}]}
///   padding to a multiple of 64, then the raw f32 data; each tensor's `offset` counts from there.
/// Writing goes to a temporary file in the same directory, which is fsync'ed, renamed over the
/// target and followed by an fsync of the directory: a crash leaves the old file or the new one.
public struct Checkpoint {
    public var step: Int
    public var tensors: [String: Tensor]
    public var counters: [String: Int]
    public var metadata: [String: String]

    public init(step: Int, tensors: [String: Tensor] = [:], counters: [String: Int] = [:], metadata: [String: String] = [:]) {
        self.step = step; self.tensors = tensors; self.counters = counters; self.metadata = metadata
    }

    /// Parameters under "param.<name>" (names must be unique) and the optimiser's state under "optim.".
    public init(step: Int, parameters: [Variable], optimizer: Optimizer?, metadata: [String: String] = [:]) throws {
        self.init(step: step, metadata: metadata)
        for p in parameters {
            guard tensors["param." + p.name] == nil else {
                throw TensorError.invalidShape(op: "Checkpoint", shape: p.shape, reason: "duplicate parameter name \"\(p.name)\"")
            }
            tensors["param." + p.name] = p.value
        }
        if let optimizer {
            let s = optimizer.stateDict()
            for (k, t) in s.tensors { tensors["optim." + k] = t }
            for (k, c) in s.counters { counters["optim." + k] = c }
        }
    }

    /// Copies the saved values into `parameters` (in place, matched by name) and restores `optimizer`.
    public func restore(parameters: [Variable], optimizer: Optimizer?) throws {
        for p in parameters {
            guard let t = tensors["param." + p.name] else {
                throw TensorError.invalidShape(op: "Checkpoint.restore", shape: p.shape, reason: "no saved parameter \"\(p.name)\"")
            }
            guard t.shape == p.shape, p.value.isContiguous, p.value.dtype == .f32 else {
                throw TensorError.shapeMismatch(op: "Checkpoint.restore", lhs: p.shape, rhs: t.shape, reason: "parameter \"\(p.name)\"")
            }
            p.value.floatPointer.update(from: t.contiguous().floatPointer, count: t.count)
            p.grad = nil
        }
        if let optimizer {
            var ot: [String: Tensor] = [:], oc: [String: Int] = [:]
            for (k, t) in tensors where k.hasPrefix("optim.") { ot[String(k.dropFirst(6))] = t }
            for (k, c) in counters where k.hasPrefix("optim.") { oc[String(k.dropFirst(6))] = c }
            try optimizer.loadStateDict(tensors: ot, counters: oc)
        }
    }

    struct Header: Codable {
        struct Entry: Codable { var name: String; var shape: [Int]; var offset: Int }
        var version: Int
        var step: Int
        var counters: [String: Int]
        var metadata: [String: String]
        var tensors: [Entry]
    }

    static let magic = Array("GRMCKPT1".utf8)

    public enum Failure: Error, CustomStringConvertible {
        case io(String), format(String)
        public var description: String {
            switch self {
            case .io(let s): return "checkpoint I/O: \(s)"
            case .format(let s): return "checkpoint format: \(s)"
            }
        }
    }

    /// Writes the checkpoint atomically to `path`.
    public func write(to path: String) throws {
        var entries: [Header.Entry] = []
        var offset = 0
        let names = tensors.keys.sorted()
        for name in names {
            let t = tensors[name]!
            guard t.dtype == .f32 else { throw Failure.format("tensor \(name) is \(t.dtype); only f32 is saved") }
            entries.append(.init(name: name, shape: t.shape, offset: offset))
            offset += t.count * 4
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = try encoder.encode(Header(version: 1, step: step, counters: counters, metadata: metadata, tensors: entries))
        var head = Checkpoint.magic
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { head += $0 }
        head += json
        while head.count % 64 != 0 { head.append(0) }

        let dir = (path as NSString).deletingLastPathComponent
        let tmp = path + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw Failure.io("cannot create \(tmp): errno \(errno)") }
        var ok = false
        defer {
            if !ok { close(fd); unlink(tmp) }
        }
        try Checkpoint.writeAll(fd, head.withUnsafeBytes { UnsafeRawBufferPointer($0) }, tmp)
        for name in names {
            let t = tensors[name]!.contiguous()
            try Checkpoint.writeAll(fd, UnsafeRawBufferPointer(start: t.floatPointer, count: t.count * 4), tmp)
        }
        guard fsync(fd) == 0 else { throw Failure.io("fsync \(tmp): errno \(errno)") }
        guard close(fd) == 0 else { throw Failure.io("close \(tmp): errno \(errno)") }
        ok = true
        guard rename(tmp, path) == 0 else {
            unlink(tmp)
            throw Failure.io("rename \(tmp) -> \(path): errno \(errno)")
        }
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }

    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = Foundation.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw Failure.io("write \(path): errno \(errno)") }
            done += n
        }
    }

    /// Reads a checkpoint written by `write(to:)`.
    public static func read(from path: String) throws -> Checkpoint {
        guard let data = FileManager.default.contents(atPath: path) else { throw Failure.io("cannot read \(path)") }
        return try data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Checkpoint in
            guard raw.count >= 16, Array(raw[0..<8]) == magic else { throw Failure.format("\(path) is not a checkpoint") }
            let hlen = Int(UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
            guard hlen >= 0, 16 + hlen <= raw.count else { throw Failure.format("truncated header") }
            let header = try JSONDecoder().decode(Header.self, from: Data(raw[16..<(16 + hlen)]))
            guard header.version == 1 else { throw Failure.format("version \(header.version)") }
            let base = (16 + hlen + 63) / 64 * 64
            var tensors: [String: Tensor] = [:]
            for e in header.tensors {
                let n = e.shape.reduce(1, *)
                let start = base + e.offset
                guard e.offset >= 0, n >= 0, start + n * 4 <= raw.count else { throw Failure.format("tensor \(e.name) runs past the end") }
                let t = Tensor.uninitialized(e.shape)
                if n > 0 { UnsafeMutableRawPointer(t.floatPointer).copyMemory(from: raw.baseAddress! + start, byteCount: n * 4) }
                tensors[e.name] = t
            }
            return Checkpoint(step: header.step, tensors: tensors, counters: header.counters, metadata: header.metadata)
        }
    }
}
