import Foundation
import XCTest
@testable import Tensor
@testable import Transformer

/// SHA-256 against the standard's test vectors, whole and fed in pieces, and the SHA-extension
/// block function against the portable one (where the CPU and the build have it).
final class SHA256Tests: XCTestCase {
    func digest(_ bytes: [UInt8], pieces: [Int] = []) -> String {
        var s = SHA256(), at = 0
        for n in pieces where at + n <= bytes.count {
            bytes[at..<at + n].withUnsafeBytes { s.update($0) }
            at += n
        }
        bytes[at...].withUnsafeBytes { s.update($0) }
        return s.finalize()
    }

    func testStandardVectors() {
        let vectors: [(String, String)] = [
            ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            (
                "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
            )
        ]
        for (text, want) in vectors {
            XCTAssertEqual(digest(Array(text.utf8)), want, text)
            XCTAssertEqual(digest(Array(text.utf8), pieces: [1, 2, 60]), want, text)
        }
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        let want = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        XCTAssertEqual(digest(million), want)
        XCTAssertEqual(digest(million, pieces: [63, 1, 64, 65, 127, 999_000]), want)
    }

    /// Same state from both block functions on random blocks, 0 to 40 at a time.
    func testSHAExtensionsMatchPortableBlocks() throws {
        guard SHA256Blocks.usesSHAExtensions else {
            throw XCTSkip(
                "SHA extensions not in use: cpu sha_ni \(CPU.flags.contains("sha_ni")), kernel level \(KernelISA.level) (GRM_ISA), "
                    + "build without them unless Package.swift saw sha_ni")
        }
        var rng = SeededRandom(seed: 11)
        for blocks in [0, 1, 2, 3, 7, 16, 40] {
            let bytes = (0..<(64 * blocks)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            var start = SHA256Blocks.initial
            start[3] ^= UInt32(blocks)
            var fast = start, slow = start
            bytes.withUnsafeBytes { b in
                let p = b.baseAddress ?? UnsafeRawPointer(bitPattern: 64)!
                SHA256Blocks.compress(&fast, p, blocks: blocks)
                SHA256Blocks.compressPortable(&slow, p, blocks: blocks)
            }
            XCTAssertEqual(fast, slow, "\(blocks) blocks")
        }
    }
}
