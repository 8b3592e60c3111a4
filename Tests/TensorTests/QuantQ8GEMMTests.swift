import XCTest
@testable import Tensor

/// The AVX-512 VNNI int8 products, on weight panels kept with the weight (`QuantMatmul.q8Panels`,
/// any row count) and on panels packed per call (`q8GEMM`, many rows): bit for bit a scalar
/// reference of their stated arithmetic, on odd shapes. Its error against the exact product is
/// checked with the other int8 kernels' (`QuantQ8ActivationTests.checkQ8Contract`, m 40 and 64).
final class QuantQ8GEMMTests: XCTestCase {
    /// The documented arithmetic, one element at a time: activations rounded by `quantizeBlock`,
    /// weights read as unsigned levels u (Q4_0, Q4_1: nibbles; Q8_0: level + 128), per block the
    /// integer sum u q - o sum q (o = 8, 0, 128), then f += int * (d_w * d_x) and, for Q4_1,
    /// f += m_w * s_x, both fused multiply-adds, blocks in order.
    static func reference(_ type: DType, x: [Float], m: Int, k: Int, w: UnsafeRawPointer, n: Int) -> [Float] {
        let nb = k / 32, bytes = type.blockBytes
        var q = [[Int8]](repeating: [], count: m * nb), d = [Float](repeating: 0, count: m * nb), s = d
        for i in 0..<m {
            for b in 0..<nb {
                var levels = [Int8](repeating: 0, count: 32)
                x.withUnsafeBufferPointer { xp in
                    levels.withUnsafeMutableBufferPointer {
                        QuantMatmul.quantizeBlock(xp.baseAddress! + i * k + 32 * b, $0.baseAddress!, &d[i * nb + b], &s[i * nb + b])
                    }
                }
                q[i * nb + b] = levels
            }
        }
        var y = [Float](repeating: 0, count: m * n)
        for j in 0..<n {
            for i in 0..<m {
                var f: Float = 0
                for b in 0..<nb {
                    let block = w + (j * nb + b) * bytes
                    let dw = QBits.f16(block, 0)
                    var u = [Int](repeating: 0, count: 32)
                    let offset: Int
                    switch type {
                    case .q8_0:
                        for l in 0..<32 { u[l] = Int(block.load(fromByteOffset: 2 + l, as: Int8.self)) + 128 }
                        offset = 128
                    default:
                        let qs = block + (type == .q4_1 ? 4 : 2)
                        for l in 0..<16 {
                            let byte = Int(qs.load(fromByteOffset: l, as: UInt8.self))
                            u[l] = byte & 15
                            u[l + 16] = byte >> 4
                        }
                        offset = type == .q4_0 ? 8 : 0
                    }
                    let levels = q[i * nb + b]
                    var dot = 0, sum = 0
                    for l in 0..<32 {
                        dot += u[l] * Int(levels[l])
                        sum += Int(levels[l])
                    }
                    f = f.addingProduct(Float(dot - offset * sum), dw * d[i * nb + b])
                    if type == .q4_1 { f = f.addingProduct(QBits.f16(block, 2), s[i * nb + b]) }
                }
                y[i * n + j] = f
            }
        }
        return y
    }

    func testMatchesScalarReferenceBitForBit() throws {
        try requireKernelPath(.avx512vnni)
        var seed: UInt64 = 7300
        for type in [DType.q4_0, .q4_1, .q8_0] {
            for (n, k) in [(45, 32 * 19), (1, 32), (32, 96), (17, 64), (70, 576)] {
                seed += 1
                let w = QuantKernelTests.randomWeight(type, n: n, k: k, seed: seed)
                if type == .q8_0 {
                    // Extreme levels: the first value of every block at -128.
                    for b in 0..<(n * k / 32) { w.rawPointer.storeBytes(of: 0x80, toByteOffset: 34 * b + 2, as: UInt8.self) }
                }
                for m in [1, 2, 5, 8, 9, 13, 33, 38, 67] {
                    let x = randomTensor([m, k], seed: seed &* 11 &+ UInt64(m))
                    let label = "\(type) m \(m) n \(n) k \(k)"
                    let want = Self.reference(type, x: x.scalars(), m: m, k: k, w: UnsafeRawPointer(w.rawPointer), n: n)
                    // The panels (any m), then the GEMM packed per call (over q8MaxRows rows).
                    let panels = try EngineSettings.with({ $0.activations = .q8 }) { try x.linear(w).scalars() }
                    XCTAssertEqual(panels, want, label + ": panels")
                    guard m > QuantMatmul.q8MaxRows else { continue }
                    let gemm = try EngineSettings.with({
                        $0.activations = .q8
                        $0.q8Panels = false
                    }) { try x.linear(w).scalars() }
                    XCTAssertEqual(gemm, want, label + ": GEMM")
                    // The f32 GEMM when both are off: the switches really select these kernels.
                    let off = try EngineSettings.with({
                        $0.activations = .q8
                        $0.q8Panels = false
                        $0.q8GEMM = false
                    }) { try x.linear(w).scalars() }
                    if n > 1 && k > 32 { XCTAssertNotEqual(off, want, label) }
                }
            }
        }
    }

    /// AMX tile products (from 32 rows: 16 rows per tile, the rest on the VNNI panel kernel) give the VNNI
    /// path's and the scalar reference's bits, for each panel type, odd n (a partial last panel),
    /// row counts around the tile size and Q8_0 levels of -128.
    func testAMXPathEqualsVNNIPathBitForBit() throws {
        #if arch(x86_64) && GRM_AMX
        try requireKernelPath(.amx)
        XCTAssertTrue(EngineSettings.with({ $0.isa = .amx }) { QuantMatmul.usesAMX(m: 32) })
        XCTAssertFalse(EngineSettings.with({ $0.isa = .amx }) { QuantMatmul.usesAMX(m: 31) })
        XCTAssertFalse(EngineSettings.with({ $0.isa = .avx512vnni }) { QuantMatmul.usesAMX(m: 64) })
        var seed: UInt64 = 7600
        for type in [DType.q4_0, .q4_1, .q8_0] {
            // (130, 576): two tasks, so a worker thread configures and uses its own tiles.
            for (n, k) in [(45, 32 * 19), (16, 32), (33, 576), (130, 576)] {
                seed += 1
                let w = QuantKernelTests.randomWeight(type, n: n, k: k, seed: seed)
                if type == .q8_0 {
                    for b in 0..<(n * k / 32) { w.rawPointer.storeBytes(of: 0x80, toByteOffset: 34 * b + 2, as: UInt8.self) }
                }
                for m in [31, 32, 33, 47, 48, 70] {
                    let x = randomTensor([m, k], seed: seed &* 13 &+ UInt64(m))
                    let label = "\(type) m \(m) n \(n) k \(k)"
                    let amx = try onKernelPath(.amx) { try EngineSettings.with({ $0.activations = .q8 }) { try x.linear(w).scalars() } }
                    let vnni = try onKernelPath(.avx512vnni) { try EngineSettings.with({ $0.activations = .q8 }) { try x.linear(w).scalars() } }
                    XCTAssertEqual(amx.map(\.bitPattern), vnni.map(\.bitPattern), label)
                    let want = Self.reference(type, x: x.scalars(), m: m, k: k, w: UnsafeRawPointer(w.rawPointer), n: n)
                    XCTAssertEqual(amx, want, label + ": reference")
                }
                if n * k >= 1 << 16 {
                    XCTAssertGreaterThan(QuantMatmul.rowTasks(units: GEMM.ceilDiv(n, Q8Panels.columns), n: n, k: k), 1)
                    let x = randomTensor([40, k], seed: seed &* 17)
                    try onKernelPath(.amx) {
                        try EngineSettings.with({ $0.activations = .q8 }) {
                            try assertThreadCountIndependent("\(type) amx n \(n)") { try x.linear(w) }
                        }
                    }
                }
            }
        }
        #else
        throw XCTSkip("kernel path amx not compiled in this build")
        #endif
    }

    /// Grouped products (q, k and v in one call) give each part's values alone; rows past 4 and
    /// columns past a panel of 32 fall in other tiles without changing an element.
    func testPartsAndTilesDoNotChangeElements() throws {
        try requireKernelPath(.avx512vnni)
        try EngineSettings.with({ $0.activations = .q8 }) {
            let k = 96, m = 41
            let a = QuantKernelTests.randomWeight(.q4_1, n: 40, k: k, seed: 7400)
            let b = QuantKernelTests.randomWeight(.q4_1, n: 24, k: k, seed: 7401)
            let x = randomTensor([m, k], seed: 7402)
            let ya = try x.linear(a).scalars(), yb = try x.linear(b).scalars()
            var ga = [Float](repeating: .nan, count: m * 40), gb = [Float](repeating: .nan, count: m * 24)
            let xc = x.contiguous()
            withExtendedLifetime(xc) {
                ga.withUnsafeMutableBufferPointer { pa in
                    gb.withUnsafeMutableBufferPointer { pb in
                        QuantMatmul.linear(
                            .q4_1, m: m, k: k, x: UnsafePointer(xc.floatPointer), ldx: k,
                            parts: [
                                .init(w: UnsafeRawPointer(a.rawPointer), n: 40, y: pa.baseAddress!, ldy: 40),
                                .init(w: UnsafeRawPointer(b.rawPointer), n: 24, y: pb.baseAddress!, ldy: 24)
                            ])
                    }
                }
            }
            XCTAssertEqual(ga, ya)
            XCTAssertEqual(gb, yb)
            // Grouped on the weights' panels: the same again.
            let grouped = try x.linear([a, b])
            XCTAssertEqual(grouped[0].scalars(), ya)
            XCTAssertEqual(grouped[1].scalars(), yb)
            // The first 37 rows alone: the same values as within 41.
            let head = try x.sliced(axis: 0, 0..<37).linear(a).scalars()
            XCTAssertEqual(head, Array(ya.prefix(37 * 40)))
            try assertThreadCountIndependent("q8GEMM") { try x.linear(a) }
        }
    }
}
