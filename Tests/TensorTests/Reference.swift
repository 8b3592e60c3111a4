import Foundation
@testable import Tensor

/// Naive reference implementations: scalar loops over multi-indices, in Double where it matters.
enum Reference {
    static func binary(_ a: Tensor, _ b: Tensor, _ f: (Double, Double) -> Double) -> (shape: [Int], values: [Float]) {
        let shape = try! Tensor.broadcastShape(a.shape, b.shape, op: "ref")
        let av = try! a.broadcast(to: shape), bv = try! b.broadcast(to: shape)
        let values = allIndices(shape).map { ix in
            Float(f(Double(element(av, ix)), Double(element(bv, ix))))
        }
        return (shape, values)
    }

    static func element(_ t: Tensor, _ ix: [Int]) -> Float {
        var o = t.offset
        for (i, v) in ix.enumerated() { o += v * t.strides[i] }
        return t.storage.floats()[o]
    }

    static func gelu(_ x: Double) -> Double {
        0.5 * x * (1 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
    }
    static func silu(_ x: Double) -> Double { x / (1 + Foundation.exp(-x)) }

    /// Reduces over `axis` of a tensor (Double accumulation).
    static func reduce(_ t: Tensor, axis: Int, _ kind: Reduction) -> [Float] {
        var outShape = t.shape
        outShape.remove(at: axis)
        return allIndices(outShape).map { ix in
            var acc: Double = kind == .max ? -.infinity : 0
            for r in 0..<t.shape[axis] {
                var full = ix
                full.insert(r, at: axis)
                let v = Double(element(t, full))
                acc = kind == .max ? Swift.max(acc, v) : acc + v
            }
            return Float(kind == .mean ? acc / Double(t.shape[axis]) : acc)
        }
    }

    /// Applies a function to every run along the last axis.
    static func rows(_ t: Tensor, _ f: ([Double]) -> [Double]) -> [Float] {
        let n = t.shape.last!
        let values = t.scalars().map(Double.init)
        var out: [Float] = []
        for r in stride(from: 0, to: values.count, by: n) { out += f(Array(values[r..<(r + n)])).map(Float.init) }
        return out
    }

    static func softmax(_ x: [Double]) -> [Double] {
        let m = x.max()!
        let e = x.map { Foundation.exp($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    static func logSoftmax(_ x: [Double]) -> [Double] {
        let m = x.max()!
        let s = x.map { Foundation.exp($0 - m) }.reduce(0, +)
        return x.map { $0 - m - Foundation.log(s) }
    }

    static func rmsNorm(_ x: [Double], weight: [Float]?, eps: Double) -> [Double] {
        let ms = x.map { $0 * $0 }.reduce(0, +) / Double(x.count)
        let scale = 1 / (ms + eps).squareRoot()
        return x.enumerated().map { i, v in v * scale * Double(weight?[i] ?? 1) }
    }

    /// RoPE with angles computed directly in Double: pos * base^(-2i/dims).
    static func rope(_ x: Tensor, positions: [Int32], base: Double, dims: Int, halves: Bool) -> [Float] {
        let t = x.shape[x.rank - 3], heads = x.shape[x.rank - 2], d = x.shape[x.rank - 1]
        var v = x.scalars().map(Double.init)
        let rows = v.count / d
        for row in 0..<rows {
            let pos = Double(positions[(row / heads) % t])
            for i in 0..<(dims / 2) {
                let theta = pos * Foundation.pow(base, -2 * Double(i) / Double(dims))
                let (j, k) = halves ? (i, i + dims / 2) : (2 * i, 2 * i + 1)
                let a = v[row * d + j], b = v[row * d + k]
                v[row * d + j] = a * cos(theta) - b * sin(theta)
                v[row * d + k] = a * sin(theta) + b * cos(theta)
            }
        }
        return v.map(Float.init)
    }
}
