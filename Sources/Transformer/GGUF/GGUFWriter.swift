import Foundation
import Tensor

/// Builds a GGUF (version 3) file from metadata and tensors of any supported type, and writes it
/// atomically: to a temporary file in the target's directory, fsync'd, then renamed over the
/// target (and the directory fsync'd), so a reader never sees a half-written file.
///
/// Tensor data is laid out in the order added, each at a multiple of the alignment
/// (`general.alignment` if the metadata sets it, else 32), zero-padded, as the format requires.
public struct GGUFWriter {
    public var metadata: GGUFMetadata
    public private(set) var tensors: [(name: String, tensor: Tensor)] = []

    public init(metadata: GGUFMetadata = GGUFMetadata()) {
        self.metadata = metadata
    }

    /// ggml's GGML_MAX_NAME less its NUL: the longest tensor name (in UTF-8 bytes) ggml reads.
    public static let maxNameBytes = 63

    /// Adds a tensor (any dtype, any layout; non-contiguous views are copied when written).
    /// Its row-major shape becomes ggml dims reversed; block types need whole blocks per row.
    /// Refused, so that ggml can read every file written: names over `maxNameBytes` bytes, and
    /// tensors with no elements (ggml's reader divides by the dimensions and fails on a zero).
    public mutating func add(_ name: String, _ tensor: Tensor) throws {
        guard !tensors.contains(where: { $0.name == name }) else {
            throw GGUFError(.duplicateTensor, "tensor name '\(name)' added twice", tensor: name)
        }
        guard name.utf8.count <= GGUFWriter.maxNameBytes else {
            throw GGUFError(
                .invalidValue, "tensor name is \(name.utf8.count) bytes long; ggml reads at most \(GGUFWriter.maxNameBytes)",
                tensor: name)
        }
        guard tensor.count > 0 else {
            throw GGUFError(
                .badShape,
                "tensor of shape \(tensor.shape) has no elements; empty tensors are refused "
                    + "because ggml's GGUF reader divides by the dimensions", tensor: name)
        }
        guard tensor.rank <= GGUFFile.maxDims else {
            throw GGUFError(.badShape, "rank \(tensor.rank) is more than \(GGUFFile.maxDims)", tensor: name)
        }
        _ = try GGUFFile.byteCount(dims: tensor.shape.reversed(), dtype: tensor.dtype, name: name, at: nil)
        tensors.append((name, tensor))
    }

    var alignment: Int {
        get throws {
            guard let v = metadata["general.alignment"] else { return GGUFFile.defaultAlignment }
            guard let a = v.intValue, a > 0, a & (a - 1) == 0, a <= 1 << 30 else {
                throw GGUFError(.invalidValue, "general.alignment is \(v.summary), not a power of two up to 2^30")
            }
            return a
        }
    }

    /// The header: magic through tensor infos, zero-padded to the alignment.
    func header() throws -> [UInt8] {
        var out = GGUFEncoder()
        out.u32(GGUFFile.magic)
        out.u32(3)
        out.u64(UInt64(tensors.count))
        out.u64(UInt64(metadata.count))
        for (key, value) in metadata.entries {
            out.string(key)
            out.u32(value.type.rawValue)
            out.value(value)
        }
        let align = try alignment
        var offset = 0
        for (name, t) in tensors {
            out.string(name)
            out.u32(UInt32(t.rank))
            for d in t.shape.reversed() { out.u64(UInt64(d)) }
            out.u32(t.dtype.ggmlType)
            out.u64(UInt64(offset))
            offset = GGUFWriter.padded(offset + t.dtype.byteCount(elements: t.count), align)
        }
        out.bytes += [UInt8](repeating: 0, count: GGUFWriter.padded(out.bytes.count, align) - out.bytes.count)
        return out.bytes
    }

    static func padded(_ n: Int, _ align: Int) -> Int { (n + align - 1) & ~(align - 1) }

    /// The whole file in memory (for small files and tests).
    public func serialized() throws -> [UInt8] {
        var bytes = try header()
        let align = try alignment
        for (_, t) in tensors {
            let c = t.contiguous()
            bytes += UnsafeRawBufferPointer(start: c.rawPointer, count: c.dtype.byteCount(elements: c.count))
            bytes += [UInt8](repeating: 0, count: GGUFWriter.padded(bytes.count, align) - bytes.count)
        }
        return bytes
    }

    /// Writes the file to `path` atomically.
    public func write(to path: String) throws {
        let head = try header()
        let align = try alignment
        let dir = (path as NSString).deletingLastPathComponent
        let tmp =
            (dir.isEmpty ? "." : dir) + "/." + (path as NSString).lastPathComponent
            + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw GGUFError(.io, "cannot create \(tmp): \(String(cString: strerror(errno)))") }
        var done = false
        defer {
            if !done {
                close(fd)
                unlink(tmp)
            }
        }
        func put(_ p: UnsafeRawPointer?, _ n: Int) throws {
            var written = 0
            while written < n {
                let r = Foundation.write(fd, p! + written, n - written)
                if r < 0 && errno == EINTR { continue }
                guard r > 0 else { throw GGUFError(.io, "cannot write \(tmp): \(String(cString: strerror(errno)))") }
                written += r
            }
        }
        try head.withUnsafeBytes { try put($0.baseAddress, $0.count) }
        var size = head.count
        let zeros = [UInt8](repeating: 0, count: align)
        for (_, t) in tensors {
            let c = t.contiguous()
            let n = c.dtype.byteCount(elements: c.count)
            if n > 0 { try put(c.rawPointer, n) }
            size += n
            let pad = GGUFWriter.padded(size, align) - size
            if pad > 0 { try zeros.withUnsafeBytes { try put($0.baseAddress, pad) } }
            size += pad
        }
        guard fsync(fd) == 0 else { throw GGUFError(.io, "cannot fsync \(tmp): \(String(cString: strerror(errno)))") }
        guard close(fd) == 0 else {
            done = true
            unlink(tmp)
            throw GGUFError(.io, "cannot close \(tmp): \(String(cString: strerror(errno)))")
        }
        done = true
        guard rename(tmp, path) == 0 else {
            let message = String(cString: strerror(errno))
            unlink(tmp)
            throw GGUFError(.io, "cannot rename \(tmp) to \(path): \(message)")
        }
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }
}

/// Little-endian serialisation of header fields and metadata values.
struct GGUFEncoder {
    var bytes: [UInt8] = []

    mutating func int<T: FixedWidthInteger>(_ v: T) {
        withUnsafeBytes(of: v.littleEndian) { bytes += $0 }
    }

    mutating func u32(_ v: UInt32) { int(v) }
    mutating func u64(_ v: UInt64) { int(v) }

    mutating func string(_ s: String) {
        let utf8 = Array(s.utf8)
        u64(UInt64(utf8.count))
        bytes += utf8
    }

    mutating func value(_ v: GGUFValue) {
        switch v {
        case let .uint8(x): int(x)
        case let .int8(x): int(x)
        case let .uint16(x): int(x)
        case let .int16(x): int(x)
        case let .uint32(x): int(x)
        case let .int32(x): int(x)
        case let .uint64(x): int(x)
        case let .int64(x): int(x)
        case let .float32(x): int(x.bitPattern)
        case let .float64(x): int(x.bitPattern)
        case let .bool(x): int(UInt8(x ? 1 : 0))
        case let .string(s): string(s)
        case let .array(a): array(a)
        }
    }

    mutating func array(_ a: GGUFArray) {
        u32(a.elementType.rawValue)
        u64(UInt64(a.count))
        switch a {
        case let .uint8(x): x.forEach { int($0) }
        case let .int8(x): x.forEach { int($0) }
        case let .uint16(x): x.forEach { int($0) }
        case let .int16(x): x.forEach { int($0) }
        case let .uint32(x): x.forEach { int($0) }
        case let .int32(x): x.forEach { int($0) }
        case let .uint64(x): x.forEach { int($0) }
        case let .int64(x): x.forEach { int($0) }
        case let .float32(x): x.forEach { int($0.bitPattern) }
        case let .float64(x): x.forEach { int($0.bitPattern) }
        case let .bool(x): x.forEach { int(UInt8($0 ? 1 : 0)) }
        case let .string(x): x.forEach { string($0) }
        case let .array(x): x.forEach { array($0) }
        }
    }
}
