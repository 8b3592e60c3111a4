import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import Transformer

/// The digest cache gives the digest of the bytes as they are: remembered while the file is
/// unchanged, read again after any rewrite (even of the same size), and unharmed by a damaged
/// cache file.
final class DigestCacheTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "grm-digest-cache-\(UUID().uuidString)/"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func write(_ text: String, to name: String) throws -> String {
        let path = dir + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func testRemembersUnchangedFilesAndRereadsChangedOnes() throws {
        let file = try write("abc", to: "model.gguf")
        let cache = DigestCache(path: dir + "cache/sha256.tsv", minimumSize: 0)
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        var reads = 0
        func digest() throws -> String {
            try cache.digest(of: file) {
                reads += 1
                return try SHA256.reading(file)
            }
        }
        XCTAssertEqual(try digest(), abc)
        XCTAssertEqual(try digest(), abc)
        XCTAssertEqual(reads, 1, "an unchanged file is not read again")
        XCTAssertEqual(try SHA256.file(file, cache: cache), abc)
        XCTAssertEqual(reads, 1)

        // The same size, other bytes: the status-change time moves even if the modification time
        // were set back, so the file is read again.
        #if canImport(Glibc)
        var st = stat()
        XCTAssertEqual(stat(file, &st), 0)
        _ = try write("abd", to: "model.gguf")
        var times = [st.st_atim, st.st_mtim]
        XCTAssertEqual(utimensat(AT_FDCWD, file, &times, 0), 0)
        let rewritten = try XCTUnwrap(DigestCache.Identity(path: file))
        XCTAssertEqual(rewritten.modified, Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec))
        #else
        _ = try write("abd", to: "model.gguf")
        #endif
        XCTAssertEqual(try digest(), try SHA256.reading(file))
        XCTAssertNotEqual(try digest(), abc)
        XCTAssertEqual(reads, 2)

        // Another cache over the same file reads what the first one wrote.
        let again = DigestCache(path: dir + "cache/sha256.tsv", minimumSize: 0)
        XCTAssertEqual(
            try again.digest(of: file) {
                XCTFail("read again")
                return ""
            }, try SHA256.reading(file))
    }

    func testRemembersTheDigestItWasGivenForThatIdentity() throws {
        // A planted entry for the file's exact identity is what comes back: the lookup is by
        // identity, not by reading. A different path with the same bytes is read.
        let file = try write("abc", to: "a.gguf")
        let cache = DigestCache(path: dir + "sha256.tsv", minimumSize: 0)
        let planted = String(repeating: "0", count: 64)
        let identity = try XCTUnwrap(DigestCache.Identity(path: file))
        cache.save([DigestCache.Entry(identity: identity, digest: planted, path: DigestCache.absolute(file))], to: dir + "sha256.tsv")
        XCTAssertEqual(try SHA256.file(file, cache: cache), planted)
        let other = try write("abc", to: "b.gguf")
        XCTAssertEqual(try SHA256.file(other, cache: cache), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    func testDamagedCacheSmallFilesAndMissingFiles() throws {
        let file = try write("abc", to: "model.gguf")
        let cachePath = dir + "sha256.tsv"
        try Data("not\tan entry\n1\t2\t3\n\u{0}garbage".utf8).write(to: URL(fileURLWithPath: cachePath))
        let cache = DigestCache(path: cachePath, minimumSize: 0)
        let want = try SHA256.reading(file)
        XCTAssertEqual(try SHA256.file(file, cache: cache), want)
        XCTAssertEqual(cache.load(cachePath).map(\.digest), [want], "malformed lines are dropped, the new entry kept")

        // Below the size threshold nothing is remembered.
        let small = DigestCache(path: dir + "small.tsv", minimumSize: 1 << 20)
        XCTAssertEqual(try SHA256.file(file, cache: small), want)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "small.tsv"))

        // A missing file is the reading's error, not a cached answer.
        XCTAssertThrowsError(try SHA256.file(dir + "absent.gguf", cache: cache))
    }

    func testKeepsTheMostRecentEntries() throws {
        let cache = DigestCache(path: dir + "sha256.tsv", capacity: 2, minimumSize: 0)
        for name in ["a", "b", "c"] { _ = try SHA256.file(try write(name, to: name), cache: cache) }
        XCTAssertEqual(cache.load(dir + "sha256.tsv").map { ($0.path as NSString).lastPathComponent }, ["b", "c"])
    }
}
