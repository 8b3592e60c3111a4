import Foundation

/// Read-only bytes that tensors can borrow: a memory-mapped file (unmapped when the last tensor
/// view and the `GGUFFile` are gone) or, for tests and in-memory files, an aligned heap copy.
public final class GGUFBytes: @unchecked Sendable {
    public let base: UnsafeRawPointer
    public let count: Int
    private let release: () -> Void

    private init(base: UnsafeRawPointer, count: Int, release: @escaping () -> Void) {
        self.base = base
        self.count = count
        self.release = release
    }

    deinit { release() }

    /// Maps `path` read-only (PROT_READ, MAP_PRIVATE). Writing through a tensor view over the
    /// mapping is a bug and faults.
    public static func map(path: String) throws -> GGUFBytes {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw GGUFError(.io, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw GGUFError(.io, "cannot stat \(path): \(String(cString: strerror(errno)))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw GGUFError(.io, "\(path) is not a regular file") }
        let size = Int(st.st_size)
        if size == 0 { return copy(UnsafeRawBufferPointer(start: nil, count: 0)) }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw GGUFError(.io, "cannot map \(path): \(String(cString: strerror(errno)))")
        }
        return GGUFBytes(base: UnsafeRawPointer(p), count: size) { munmap(p, size) }
    }

    /// A 64-byte aligned copy of `bytes`.
    public static func copy(_ bytes: UnsafeRawBufferPointer) -> GGUFBytes {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
        if let src = bytes.baseAddress, bytes.count > 0 { p.copyMemory(from: src, byteCount: bytes.count) }
        return GGUFBytes(base: UnsafeRawPointer(p), count: bytes.count) { p.deallocate() }
    }

    public static func copy(_ bytes: [UInt8]) -> GGUFBytes {
        bytes.withUnsafeBytes { copy($0) }
    }
}
