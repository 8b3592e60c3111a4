import Foundation
import XCTest
@testable import Tensor

/// Every backward rule against central finite differences, on random inputs with odd shapes.
final class AutogradTests: XCTestCase {
    func leaf(_ shape: [Int], seed: UInt64, range: ClosedRange<Float> = -2...2) -> Variable {
        Variable(randomTensor(shape, seed: seed, range: range), requiresGrad: true)
    }

    func assertGrad(
        _ inputs: [Variable], eps: Float = 1e-2, atol: Double = 2e-3, rtol: Double = 1e-2,
        _ name: String, file: StaticString = #filePath, line: UInt = #line,
        _ f: ([Variable]) throws -> Variable
    ) throws {
        let r = try GradCheck.check(inputs, eps: eps, atol: atol, rtol: rtol, f)
        XCTAssertTrue(r.passed, "\(name): \(r)", file: file, line: line)
        XCTAssertGreaterThan(r.checked, 0, name, file: file, line: line)
    }

    func testArithmeticWithBroadcasting() throws {
        let a = leaf([3, 1, 5], seed: 1), b = leaf([4, 5], seed: 2), c = leaf([5], seed: 3)
        let d = leaf([4, 5], seed: 4, range: 0.5...2)
        try assertGrad([a, b], "add") { try $0[0] + $0[1] }
        try assertGrad([a, b], "sub") { try $0[0] - $0[1] }
        try assertGrad([a, c], "mul") { try $0[0] * $0[1] }
        try assertGrad([a, d], "div") { try $0[0] / $0[1] }
        try assertGrad([a], "scale") { try $0[0].scaled(by: -1.7) }
        try assertGrad([b], "exp") { try $0[0].exp() }
        // A variable used twice accumulates both contributions.
        try assertGrad([b], "x*x+x") { x in try x[0] * x[0] + x[0] }
    }

    func testActivations() throws {
        let x = leaf([3, 7], seed: 5, range: -4...4)
        try assertGrad([x], "silu") { try $0[0].silu() }
        try assertGrad([x], "gelu") { try $0[0].gelu() }
        try assertGrad([x], "sigmoid") { try $0[0].sigmoid() }
        try assertGrad([x], "logSigmoid") { try $0[0].logSigmoid() }
        let wide = Variable(try Tensor(shape: [4], scalars: [-30, -8, 9, 40]), requiresGrad: true)
        try assertGrad([wide], "logSigmoid large") { try $0[0].logSigmoid() }
        XCTAssertClose(try wide.value.logSigmoid().scalars(), [-30, -8.000335, -1.2340e-4, 0], tol: 1e-4, mixed: true)
        let g = leaf([2, 3, 5], seed: 6), u = leaf([2, 3, 5], seed: 7)
        try assertGrad([g, u], "swiglu") { try Variable.swiglu(gate: $0[0], up: $0[1]) }
    }

    func testShapeOps() throws {
        let x = leaf([2, 3, 5], seed: 8)
        try assertGrad([x], "reshape") { try $0[0].reshaped([5, -1]) * Variable(randomTensor([5, 6], seed: 1)) }
        try assertGrad([x], "permute") { try $0[0].permuted([2, 0, 1]) * Variable(randomTensor([5, 2, 3], seed: 2)) }
        try assertGrad([x], "transpose") { try $0[0].transposed(0, 2) }
        try assertGrad([x], "slice") { try $0[0].sliced(axis: 2, 1..<5, step: 2) }
        let y = leaf([2, 4, 5], seed: 9)
        try assertGrad([x, y], "concat") { try Variable.concat([$0[0], $0[1], $0[0]], axis: 1) }
        try assertGrad([x], "sum") { try $0[0].sum() }
        try assertGrad([x], "mean") { try $0[0].mean() }
        try assertGrad([x], "sum axis") { try $0[0].sum(axis: 1) }
        try assertGrad([x], "mean axis keep") { try $0[0].mean(axis: -1, keepingAxis: true) }
    }

    func testMatmulAllTransposesAndBatches() throws {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let a = leaf(ta ? [4, 3] : [3, 4], seed: 10), b = leaf(tb ? [5, 4] : [4, 5], seed: 11)
            try assertGrad([a, b], "matmul \(ta) \(tb)") { try $0[0].matmul($0[1], transposeA: ta, transposeB: tb) }
            // Batched, with the left operand broadcast over a batch axis it lacks.
            let ab = leaf(ta ? [2, 1, 4, 3] : [2, 1, 3, 4], seed: 12), bb = leaf(tb ? [3, 5, 4] : [3, 4, 5], seed: 13)
            try assertGrad([ab, bb], "batched matmul \(ta) \(tb)") { try $0[0].matmul($0[1], transposeA: ta, transposeB: tb) }
            // Batched left operand times a shared matrix: the matrix's gradient sums over the batch.
            let l = leaf(ta ? [3, 4, 5] : [3, 5, 4], seed: 14), r = leaf(tb ? [6, 4] : [4, 6], seed: 15)
            try assertGrad([l, r], "batch x matrix \(ta) \(tb)") { try $0[0].matmul($0[1], transposeA: ta, transposeB: tb) }
        }
    }

    func testMatmulWithVectors() throws {
        let m = leaf([3, 4], seed: 50), v = leaf([4], seed: 51), u = leaf([3], seed: 52), bm = leaf([2, 4, 5], seed: 53)
        try assertGrad([m, v], "matrix x vector") { try $0[0].matmul($0[1]) }
        try assertGrad([u, m], "vector x matrix") { try $0[0].matmul($0[1]) }
        try assertGrad([v, bm], "vector x batch") { try $0[0].matmul($0[1]) }
        try assertGrad([v, v], "dot") { try $0[0].matmul($0[1]) }
        XCTAssertEqual(try v.matmul(bm).shape, try v.value.matmul(bm.value).shape)
        XCTAssertEqual(try v.matmul(v).shape, [])
    }

    func testEmbeddingScatterAdd() throws {
        let table = leaf([7, 5], seed: 14)
        let ids: [Int32] = [3, 0, 3, 6, 3, 1]
        try assertGrad([table], "embedding") { try $0[0].embedding(ids, idsShape: [2, 3]) }
        // Rows never looked up get exact zeros.
        table.grad = nil
        let out = try table.embedding(ids)
        try out.backward(seed: Tensor(shape: out.shape, repeating: 1))
        XCTAssertEqual(try table.grad!.selected(axis: 0, 2).scalars(), [0, 0, 0, 0, 0])
        XCTAssertEqual(try table.grad!.selected(axis: 0, 3).scalars(), [3, 3, 3, 3, 3])
    }

    func testRMSNorm() throws {
        let x = leaf([3, 2, 9], seed: 15), w = leaf([9], seed: 16)
        try assertGrad([x, w], "rmsNorm") { try $0[0].rmsNorm(weight: $0[1], eps: 1e-5) }
        try assertGrad([x], "rmsNorm no weight") { try $0[0].rmsNorm(weight: nil, eps: 1e-3) }
    }

    func testRoPE() throws {
        let x = leaf([2, 5, 3, 8], seed: 17)
        let pos: [Int32] = [0, 1, 2, 7, 11]
        for layout in [RoPE.Layout.adjacentPairs, .halves] {
            let rope = RoPE(base: 10_000, dims: 6, layout: layout)
            try assertGrad([x], "rope \(layout)") { try $0[0].rope(rope, positions: pos) }
        }
    }

    func testSoftmaxAndLogSoftmax() throws {
        let x = leaf([4, 11], seed: 18, range: -3...3)
        try assertGrad([x], "softmax") { try $0[0].softmax() }
        try assertGrad([x], "logSoftmax") { try $0[0].logSoftmax() }
    }

    func testCausalAttentionGQA() throws {
        for (hq, hkv) in [(4, 2), (3, 3), (3, 1)] {
            let q = leaf([2, 5, hq, 6], seed: 19), k = leaf([2, 5, hkv, 6], seed: 20), v = leaf([2, 5, hkv, 6], seed: 21)
            try assertGrad([q, k, v], "attention \(hq)/\(hkv)") { try Variable.causalAttention(q: $0[0], k: $0[1], v: $0[2]) }
            // Forward against a naive reference (Double).
            let out = try Variable.causalAttention(q: q, k: k, v: v).value
            XCTAssertClose(out.scalars(), naiveAttention(q.value, k.value, v.value), tol: 1e-5, mixed: true, "attention forward")
        }
    }

    func naiveAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor) -> [Float] {
        let (b, t, hq, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3]), hkv = k.shape[2]
        var out = [Float](repeating: 0, count: q.count)
        for bi in 0..<b {
            for h in 0..<hq {
                for i in 0..<t {
                    let g = h / (hq / hkv)
                    var s = [Double]()
                    for j in 0...i {
                        var dot = 0.0
                        for c in 0..<d { dot += Double(q[bi, i, h, c]) * Double(k[bi, j, g, c]) }
                        s.append(dot / Double(d).squareRoot())
                    }
                    let p = Reference.softmax(s)
                    for c in 0..<d {
                        var acc = 0.0
                        for j in 0...i { acc += p[j] * Double(v[bi, j, g, c]) }
                        out[((bi * t + i) * hq + h) * d + c] = Float(acc)
                    }
                }
            }
        }
        return out
    }

    func testCrossEntropyWithIgnoreMask() throws {
        let logits = leaf([2, 3, 7], seed: 22, range: -3...3)
        let targets: [Int32] = [1, -100, 6, 0, -100, 3]
        try assertGrad([logits], "crossEntropy") { try $0[0].crossEntropy(targets: targets) }
        // Loss against a Double reference over the 4 chosen rows only.
        let x = logits.value.scalars().map(Double.init)
        var expected = 0.0
        for (r, t) in targets.enumerated() where t >= 0 {
            let row = Array(x[(r * 7)..<(r * 7 + 7)])
            expected -= Reference.logSoftmax(row)[Int(t)]
        }
        XCTAssertEqual(Double(try logits.crossEntropy(targets: targets).item), expected / 4, accuracy: 1e-5)
        // Ignored rows get no gradient at all.
        logits.grad = nil
        try logits.crossEntropy(targets: targets).backward()
        XCTAssertEqual(try logits.grad!.reshaped([6, 7]).selected(axis: 0, 1).scalars(), [Float](repeating: 0, count: 7))
    }

    func testTokenLogProbs() throws {
        let logits = leaf([5, 9], seed: 23, range: -3...3)
        let ids: [Int32] = [0, 8, 4, 4, 2]
        try assertGrad([logits], "tokenLogProbs") { try $0[0].tokenLogProbs(ids) }
        let lp = try logits.tokenLogProbs(ids).value.scalars()
        let ref = try logits.value.logSoftmax()
        for (r, id) in ids.enumerated() { XCTAssertEqual(lp[r], ref[r, Int(id)], accuracy: 1e-5) }
    }

    /// GRPO's per-token loss: values by the formula, gradients by finite differences on both sides
    /// of the clip range (away from its kinks), and no objective gradient where the clip holds.
    func testPolicyLoss() throws {
        let logp = leaf([8], seed: 31, range: -3 ... -0.5)
        let lp = logp.value.scalars()
        // Ratios exp(logp - old) of 0.5, 0.9, 1, 1.1, 1.5, 2, 0.7, 1.3; advantages of both signs.
        let ratios: [Float] = [0.5, 0.9, 1, 1.1, 1.5, 2, 0.7, 1.3]
        let old = zip(lp, ratios).map { $0 - Foundation.log($1) }
        let ref = lp.enumerated().map { $1 + 0.3 * Float($0 % 3) - 0.3 }
        let adv: [Float] = [1, -1, 0.5, -0.5, 2, -2, 1.5, -1.5]
        let (clip, beta): (Float, Float) = (0.2, 0.08)
        try assertGrad([logp], "policyLoss") { try $0[0].policyLoss(old: old, ref: ref, advantage: adv, clip: clip, beta: beta) }
        let out = try logp.policyLoss(old: old, ref: ref, advantage: adv, clip: clip, beta: beta).value.scalars()
        for t in 0..<8 {
            let r = Double(ratios[t]), a = Double(adv[t]), d = Double(ref[t] - lp[t])
            let obj = min(r * a, min(max(r, 0.8), 1.2) * a)
            let kl = Foundation.exp(d) - d - 1
            XCTAssertEqual(Double(out[t]), -(obj - 0.08 * kl), accuracy: 1e-5, "token \(t)")
        }
        // t = 5: ratio 2, A = -2: the unclipped 2 * -2 is the minimum and keeps its slope.
        // t = 4: ratio 1.5, A = 2: the clipped 1.2 * 2 is the minimum, so only the KL has a slope.
        logp.grad = nil
        try logp.policyLoss(old: old, ref: ref, advantage: adv, clip: clip, beta: 0).backward(
            seed: try Tensor(shape: [8], scalars: [Float](repeating: 1, count: 8)))
        let g = logp.grad!.scalars()
        XCTAssertEqual(g[4], 0)
        XCTAssertEqual(Double(g[5]), 2 * 2, accuracy: 1e-5, "d(-ratio A)/dlogp = -ratio A = 4")
        XCTAssertEqual(Double(g[2]), -0.5, accuracy: 1e-6, "at ratio 1 the gradient is -A")
        XCTAssertThrowsError(try logp.policyLoss(old: old, ref: ref, advantage: [1], clip: clip, beta: beta))
    }

    func testBradleyTerryLoss() throws {
        // -log sigmoid(chosen - rejected), averaged: the reward-model pairwise loss.
        let chosen = leaf([6], seed: 24), rejected = leaf([6], seed: 25)
        try assertGrad([chosen, rejected], "bradley-terry") { try ($0[0] - $0[1]).logSigmoid().mean().scaled(by: -1) }
    }

    func testNoGradRecordsNothingAndGraphIsFreed() throws {
        let x = leaf([3], seed: 26)
        let y = try Autograd.noGrad { try x * x }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertTrue(y.isLeaf)
        let z = try (x * x).sum()
        XCTAssertFalse(z.isLeaf)
        try z.backward()
        XCTAssertTrue(z.isLeaf, "backward frees the recorded closures")
        XCTAssertThrowsError(try z.backward(), "a freed graph cannot be used twice")
        XCTAssertClose(x.grad!.scalars(), try x.value.scaled(by: 2).scalars(), tol: 1e-6)
        // A second backward through a new graph accumulates into the leaf's gradient.
        try (x * x).sum().backward()
        XCTAssertClose(x.grad!.scalars(), try x.value.scaled(by: 4).scalars(), tol: 1e-6)
        // Frozen leaves get nothing.
        let w = leaf([3], seed: 27)
        w.requiresGrad = false
        try (x * w).sum().backward()
        XCTAssertNil(w.grad)
    }

    func testAttentionBackwardIsThreadCountIndependent() throws {
        let q = randomTensor([2, 9, 4, 8], seed: 30), k = randomTensor([2, 9, 2, 8], seed: 31), v = randomTensor([2, 9, 2, 8], seed: 32)
        let g = randomTensor([2, 9, 4, 8], seed: 33)
        for pick in 0..<3 {
            try assertThreadCountIndependent("attention backward \(pick)") {
                let (o, l) = try CausalAttention.forward(q: q, k: k, v: v)
                let r = try CausalAttention.backward(q: q, k: k, v: v, out: o, lse: l, gradOut: g)
                return [r.dq, r.dk, r.dv][pick]
            }
        }
    }
}

extension AutogradTests {
    func testGradCheckCatchesAWrongRule() throws {
        let x = leaf([4], seed: 40)
        let r = try GradCheck.check([x]) { v in
            // y = x^2 with a deliberately wrong derivative (x instead of 2x).
            let xv = v[0].value
            return Variable.record(try xv * xv, [v[0]]) { g in [try g * xv] }
        }
        XCTAssertFalse(r.passed)
    }
}
