import Foundation

/// Writes a file atomically: everything goes to a temporary file beside the target, which is
/// flushed, fsync'd and renamed over the target by `commit()`. Until then the target is untouched;
/// a writer dropped without `commit()` (an error part way) removes its temporary file.
public final class AtomicFileWriter {
    public let path: String
    public let temporaryPath: String
    private var file: UnsafeMutablePointer<FILE>?

    public init(path: String) throws {
        self.path = path
        let dir = (path as NSString).deletingLastPathComponent
        temporaryPath =
            (dir.isEmpty ? "." : dir) + "/." + (path as NSString).lastPathComponent
            + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw RewardDataError(file: path, "cannot create \(temporaryPath): \(String(cString: strerror(errno)))")
        }
        guard let f = fdopen(fd, "wb") else {
            close(fd)
            unlink(temporaryPath)
            throw RewardDataError(file: path, "cannot open \(temporaryPath): \(String(cString: strerror(errno)))")
        }
        file = f
    }

    deinit {
        if let file {
            fclose(file)
            unlink(temporaryPath)
        }
    }

    public func write(_ bytes: [UInt8]) throws {
        guard let file else { throw RewardDataError(file: path, "write after commit") }
        let n = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        guard n == bytes.count else {
            throw RewardDataError(file: path, "cannot write \(temporaryPath): \(String(cString: strerror(errno)))")
        }
    }

    public func write(_ text: String) throws { try write(Array(text.utf8)) }

    /// Flushes, syncs and renames the temporary file over `path`.
    public func commit() throws {
        guard let f = file else { throw RewardDataError(file: path, "already committed") }
        file = nil
        let ok = fflush(f) == 0 && fsync(fileno(f)) == 0
        let message = String(cString: strerror(errno))
        let closed = fclose(f) == 0
        guard ok, closed else {
            unlink(temporaryPath)
            throw RewardDataError(file: path, "cannot flush \(temporaryPath): \(message)")
        }
        guard rename(temporaryPath, path) == 0 else {
            let message = String(cString: strerror(errno))
            unlink(temporaryPath)
            throw RewardDataError(file: path, "cannot rename \(temporaryPath) to \(path): \(message)")
        }
        let dir = (path as NSString).deletingLastPathComponent
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }

    /// Writes `text` to `path` atomically.
    public static func write(_ text: String, to path: String) throws {
        let w = try AtomicFileWriter(path: path)
        try w.write(text)
        try w.commit()
    }
}

/// Writes `RewardItem`s as JSONL, atomically (see `AtomicFileWriter`): call `commit()` at the end.
public final class RewardItemWriter {
    private let writer: AtomicFileWriter
    public private(set) var count = 0

    public init(path: String) throws { writer = try AtomicFileWriter(path: path) }

    public func write(_ item: RewardItem) throws {
        let line: String
        do { line = try item.jsonLine() } catch let e as JSONValueError {
            throw RewardDataError(file: writer.path, line: count + 1, e.reason)
        }
        try writer.write(line + "\n")
        count += 1
    }

    public func commit() throws { try writer.commit() }

    /// Writes all `items` to `path` atomically.
    public static func write(_ items: [RewardItem], to path: String) throws {
        let w = try RewardItemWriter(path: path)
        for item in items { try w.write(item) }
        try w.commit()
    }
}
