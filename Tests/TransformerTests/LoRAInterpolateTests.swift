import Foundation
import XCTest
@testable import Tensor
@testable import Transformer

/// Interpolated adapters: the ends are the two adapters bit for bit, a point between is the
/// factor-wise blend, metadata is the first's, and adapters of another shape are refused by name.
final class LoRAInterpolateTests: XCTestCase {
    func adapter(seed: UInt64, alpha: Float = 8, rank: Int = 4, template: String = "compact") -> LoRAAdapter {
        var rng = SeededRandom(seed: seed)
        var a = LoRAAdapter(architecture: "llama", alpha: alpha, metadata: ["judge.template": template])
        for name in ["blk.0.attn_q.weight", "blk.1.ffn_down.weight"] {
            a.pairs[name] = .init(
                a: Tensor.randomNormal([rank, 24], std: 0.2, rng: &rng), b: Tensor.randomNormal([40, rank], std: 0.2, rng: &rng))
        }
        return a
    }

    func testEndsAreExactAndTheMiddleIsTheBlend() throws {
        let x = adapter(seed: 1), y = adapter(seed: 2, template: "standard")
        for (t, want) in [(Float(0), x), (1, y)] {
            let m = try x.interpolated(with: y, t: t)
            for (name, p) in want.pairs {
                XCTAssertEqual(m.pairs[name]?.a.scalars(), p.a.scalars(), "t = \(t) \(name)")
                XCTAssertEqual(m.pairs[name]?.b.scalars(), p.b.scalars(), "t = \(t) \(name)")
            }
        }
        let m = try x.interpolated(with: y, t: 0.25)
        XCTAssertEqual(m.metadata, x.metadata, "the first adapter's metadata")
        XCTAssertEqual(m.alpha, 8)
        for (name, p) in x.pairs {
            let q = y.pairs[name]!, r = m.pairs[name]!
            XCTAssertEqual(r.a.shape, p.a.shape)
            for (i, v) in r.a.scalars().enumerated() { XCTAssertEqual(v, 0.75 * p.a.scalars()[i] + 0.25 * q.a.scalars()[i], accuracy: 1e-6) }
            for (i, v) in r.b.scalars().enumerated() { XCTAssertEqual(v, 0.75 * p.b.scalars()[i] + 0.25 * q.b.scalars()[i], accuracy: 1e-6) }
        }
        // Through a file, as `grm interpolate` writes it.
        let path = NSTemporaryDirectory() + "interp-\(UUID().uuidString).gguf"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try m.write(gguf: path)
        let back = try LoRAAdapter(gguf: path)
        XCTAssertEqual(back.pairs["blk.0.attn_q.weight"]?.a.scalars(), m.pairs["blk.0.attn_q.weight"]?.a.scalars())
        XCTAssertEqual(back.metadata["judge.template"], "compact")
    }

    func testAdaptersOfAnotherShapeAreRefusedByName() throws {
        let x = adapter(seed: 1)
        func refused(_ y: LoRAAdapter, _ says: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertThrowsError(try x.interpolated(with: y, t: 0.5, paths: ("a.gguf", "b.gguf")), file: file, line: line) {
                let text = String(describing: $0)
                XCTAssertTrue(text.contains("b.gguf") && text.contains(says), text, file: file, line: line)
            }
        }
        refused(adapter(seed: 2, alpha: 16), "alpha 16")
        refused(adapter(seed: 2, rank: 8), "blk.")
        var fewer = adapter(seed: 2)
        fewer.pairs["blk.1.ffn_down.weight"] = nil
        refused(fewer, "different weights")
        XCTAssertThrowsError(try x.interpolated(with: adapter(seed: 2), t: .nan))
    }
}
