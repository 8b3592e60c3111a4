import Foundation
import XCTest
@testable import Tensor
@testable import Transformer

/// Path of a committed fixture (Tests/TransformerTests/Fixtures, built by make_fixtures.py).
func fixturePath(_ name: String) -> String {
    if let url = Bundle.module.url(forResource: "Fixtures", withExtension: nil) {
        return url.appendingPathComponent(name).path
    }
    return URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)").path
}

struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func randomTensor(_ shape: [Int], seed: UInt64, range: ClosedRange<Float> = -2...2) -> Tensor {
    var rng = SplitMix64(seed: seed)
    let n = shape.reduce(1, *)
    return try! Tensor(shape: shape, scalars: (0..<n).map { _ in Float.random(in: range, using: &rng) })
}

/// The raw bytes of a contiguous tensor.
func rawBytes(_ t: Tensor) -> [UInt8] {
    let c = t.contiguous()
    return Array(UnsafeRawBufferPointer(start: c.rawPointer, count: c.dtype.byteCount(elements: c.count)))
}

/// Scratch directory for written files, removed by the caller.
func temporaryDirectory() -> String {
    let dir = NSTemporaryDirectory() + "grm-gguf-tests-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// Runs a command; nil if it could not be started.
func runCommand(_ arguments: [String], input: String? = nil) -> (status: Int32, output: String)? {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = arguments
    let out = Pipe()
    p.standardOutput = out
    p.standardError = Pipe()
    do { try p.run() } catch { return nil }
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}
