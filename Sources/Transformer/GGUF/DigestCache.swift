import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SHA-256 digests of files, remembered by each file's identity on disk: device, inode, size, and
/// modification and status-change times to the nanosecond (what git's index and ccache compare).
/// A file is read again only when one of them changes; the status-change time moves on every write
/// and cannot be set back by a program, so a rewrite of the same size is not missed.
///
/// The cache is a small text file, one line per file: `device inode size mtime ctime digest path`,
/// written to a temporary file and renamed, so a reader never sees half of it and two processes
/// at worst lose each other's newest entry. It holds the `capacity` most recently used files, and
/// only files of `minimumSize` bytes or more: a smaller one hashes in milliseconds (0.5 s is what a
/// 98 MB model costs on SHA extensions), and so scratch files never fill it.
/// A missing, unreadable or malformed cache is the same as an empty one, and one that cannot be
/// written only costs the next run the hashing: the cache never changes a digest, only its cost.
public final class DigestCache: @unchecked Sendable {
    /// The cache file (nil: caching off).
    public let path: String?
    public let capacity: Int
    public let minimumSize: Int64
    private let lock = NSLock()

    public init(path: String?, capacity: Int = 256, minimumSize: Int64 = 16 << 20) {
        self.path = path
        self.capacity = capacity
        self.minimumSize = minimumSize
    }

    /// `$GRM_CACHE_DIR`, else `$XDG_CACHE_HOME/grm`, else `~/.cache/grm`, file `sha256.tsv`;
    /// `GRM_DIGEST_CACHE=0` turns caching off.
    public static let shared: DigestCache = {
        let env = ProcessInfo.processInfo.environment
        if env["GRM_DIGEST_CACHE"] == "0" { return DigestCache(path: nil) }
        let dir: String? =
            env["GRM_CACHE_DIR"].flatMap { $0.isEmpty ? nil : $0 }
            ?? env["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 + "/grm" }
            ?? env["HOME"].flatMap { $0.isEmpty ? nil : $0 + "/.cache/grm" }
        return DigestCache(path: dir.map { $0 + "/sha256.tsv" })
    }()

    /// What identifies a file's bytes without reading them.
    struct Identity: Equatable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modified: Int64
        var changed: Int64

        init?(path: String) {
            var st = stat()
            guard stat(path, &st) == 0 else { return nil }
            device = UInt64(st.st_dev)
            inode = UInt64(st.st_ino)
            size = Int64(st.st_size)
            #if canImport(Darwin)
            modified = Int64(st.st_mtimespec.tv_sec) * 1_000_000_000 + Int64(st.st_mtimespec.tv_nsec)
            changed = Int64(st.st_ctimespec.tv_sec) * 1_000_000_000 + Int64(st.st_ctimespec.tv_nsec)
            #else
            modified = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
            changed = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
            #endif
        }

        init(device: UInt64, inode: UInt64, size: Int64, modified: Int64, changed: Int64) {
            self.device = device
            self.inode = inode
            self.size = size
            self.modified = modified
            self.changed = changed
        }
    }

    struct Entry: Equatable {
        var identity: Identity
        var digest: String
        var path: String

        var line: String {
            let i = identity
            return "\(i.device)\t\(i.inode)\t\(i.size)\t\(i.modified)\t\(i.changed)\t\(digest)\t\(path)"
        }

        /// nil for a line that is not an entry (it is dropped).
        init?(line: Substring) {
            let f = line.split(separator: "\t", maxSplits: 6, omittingEmptySubsequences: false)
            guard f.count == 7, let d = UInt64(f[0]), let n = UInt64(f[1]), let s = Int64(f[2]), let m = Int64(f[3]),
                let c = Int64(f[4]), f[5].count == 64, f[5].allSatisfy({ $0.isHexDigit && !$0.isUppercase })
            else { return nil }
            identity = Identity(device: d, inode: n, size: s, modified: m, changed: c)
            digest = String(f[5])
            path = String(f[6])
        }

        init(identity: Identity, digest: String, path: String) {
            self.identity = identity
            self.digest = digest
            self.path = path
        }
    }

    /// The file's digest: the remembered one if the file is unchanged, else `compute()`'s, which is
    /// then remembered (only if the file did not change while it was read).
    public func digest(of file: String, compute: () throws -> String) throws -> String {
        guard let path, let before = Identity(path: file), before.size >= minimumSize else { return try compute() }
        let key = Self.absolute(file)
        lock.lock()
        defer { lock.unlock() }
        var entries = load(path)
        if let hit = entries.first(where: { $0.path == key && $0.identity == before }) { return hit.digest }
        let digest = try compute()
        guard Identity(path: file) == before else { return digest }
        entries.removeAll { $0.path == key }
        entries.append(Entry(identity: before, digest: digest, path: key))
        save(Array(entries.suffix(capacity)), to: path)
        return digest
    }

    static func absolute(_ file: String) -> String {
        let url = URL(fileURLWithPath: file).standardizedFileURL.resolvingSymlinksInPath()
        return url.path.replacingOccurrences(of: "\t", with: " ").replacingOccurrences(of: "\n", with: " ")
    }

    func load(_ path: String) -> [Entry] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap(Entry.init(line:))
    }

    func save(_ entries: [Entry], to path: String) {
        let dir = (path as NSString).deletingLastPathComponent
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let tmp = path + ".tmp\(getpid())"
        let text = entries.map(\.line).joined(separator: "\n") + "\n"
        guard FileManager.default.createFile(atPath: tmp, contents: Data(text.utf8)) else { return }
        if rename(tmp, path) != 0 { unlink(tmp) }
    }
}
