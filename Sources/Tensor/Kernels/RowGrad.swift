import Foundation

/// Backward kernels of the row ops (softmax, log-softmax, RMSNorm): one row per task item, rows
/// split by shape only, so results do not depend on the thread count.
public enum RowGrad {
    /// Runs `body(row)` for each of `rows` rows of `n` elements, in parallel.
    @inline(always) static func forRows(_ rows: Int, n: Int, _ body: (Int) -> Void) {
        let tasks = taskCount(work: rows * Swift.max(n, 1), grain: 1 << 13, limit: ThreadPool.shared.threadCount * 4)
        ThreadPool.shared.parallelRanges(rows, parts: tasks) { range in
            for r in range { body(r) }
        }
    }

    /// Dot product of `n` contiguous floats, in a fixed order.
    @inline(always) public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var a0 = Vec(), a1 = Vec()
        let w = Vec.scalarCount
        var i = 0
        while i + 2 * w <= n {
            a0 = a0.addingProduct(
                UnsafeRawPointer(a + i).loadUnaligned(as: Vec.self),
                UnsafeRawPointer(b + i).loadUnaligned(as: Vec.self))
            a1 = a1.addingProduct(
                UnsafeRawPointer(a + i + w).loadUnaligned(as: Vec.self),
                UnsafeRawPointer(b + i + w).loadUnaligned(as: Vec.self))
            i += 2 * w
        }
        while i < n {
            let c = Swift.min(w, n - i)
            a0 = a0.addingProduct(VectorMath.load(a + i, stride: 1, count: c), VectorMath.load(b + i, stride: 1, count: c))
            i += c
        }
        return VectorMath.sum(a0 + a1)
    }

    /// y += alpha * x over `n` contiguous floats.
    @inline(always) public static func axpy(_ y: UnsafeMutablePointer<Float>, _ alpha: Float, _ x: UnsafePointer<Float>, _ n: Int) {
        let a = Vec(repeating: alpha)
        var i = 0
        while i < n {
            let c = Swift.min(Vec.scalarCount, n - i)
            let v = VectorMath.load(y + i, stride: 1, count: c).addingProduct(a, VectorMath.load(x + i, stride: 1, count: c))
            VectorMath.store(v, y + i, count: c)
            i += c
        }
    }

    /// Softmax backward over the last axis from the output y: dx = y (g - sum(g y)).
    public static func softmax(output y: Tensor, grad g: Tensor) -> Tensor {
        let yc = y.contiguous(), gc = g.contiguous()
        let n = y.shape.last ?? 1, rows = n == 0 ? 0 : y.count / n
        let out = Tensor.uninitialized(y.shape)
        let py = yc.floatPointer, pg = gc.floatPointer, po = out.floatPointer
        forRows(rows, n: n) { r in
            let yr = py + r * n, gr = pg + r * n, o = po + r * n
            let s = Vec(repeating: dot(yr, gr, n))
            var i = 0
            while i < n {
                let c = Swift.min(Vec.scalarCount, n - i)
                let v = VectorMath.load(yr + i, stride: 1, count: c) * (VectorMath.load(gr + i, stride: 1, count: c) - s)
                VectorMath.store(v, o + i, count: c)
                i += c
            }
        }
        return out
    }

    /// Log-softmax backward over the last axis from the output y: dx = g - exp(y) sum(g).
    public static func logSoftmax(output y: Tensor, grad g: Tensor) -> Tensor {
        let yc = y.contiguous(), gc = g.contiguous()
        let n = y.shape.last ?? 1, rows = n == 0 ? 0 : y.count / n
        let out = Tensor.uninitialized(y.shape)
        let py = yc.floatPointer, pg = gc.floatPointer, po = out.floatPointer
        forRows(rows, n: n) { r in
            let yr = py + r * n, gr = pg + r * n, o = po + r * n
            let s = Vec(repeating: Reduction.sum(gr, count: n))
            var i = 0
            while i < n {
                let c = Swift.min(Vec.scalarCount, n - i)
                let v =
                    VectorMath.load(gr + i, stride: 1, count: c)
                    - VectorMath.exp(VectorMath.load(yr + i, stride: 1, count: c, fill: -.infinity)) * s
                VectorMath.store(v, o + i, count: c)
                i += c
            }
        }
        return out
    }

    /// RMSNorm backward over the last axis. With r = 1/sqrt(mean(x^2) + eps) and gw = g * w:
    /// dx = r gw - x r^3 sum(gw x) / n, and dw = sum over rows of g x r (nil without a weight).
    public static func rmsNorm(input x: Tensor, weight: Tensor?, grad g: Tensor, eps: Float) throws -> (dx: Tensor, dw: Tensor?) {
        let xc = x.contiguous(), gc = g.contiguous()
        let n = x.shape.last ?? 1, rows = n == 0 ? 0 : x.count / n
        let wc = weight?.contiguous()
        let dx = Tensor.uninitialized(x.shape)
        let xhat = weight == nil ? nil : Tensor.uninitialized(x.shape)
        let px = xc.floatPointer, pg = gc.floatPointer, po = dx.floatPointer
        let pw = wc?.floatPointer, ph = xhat?.floatPointer
        forRows(rows, n: n) { r in
            let xr = px + r * n, gr = pg + r * n, o = po + r * n
            let rinv = 1 / (dot(xr, xr, n) / Float(n) + eps).squareRoot()
            // o = g * w first (the weighted gradient), then the correction.
            var i = 0
            while i < n {
                let c = Swift.min(Vec.scalarCount, n - i)
                var v = VectorMath.load(gr + i, stride: 1, count: c)
                if let pw { v *= VectorMath.load(pw + i, stride: 1, count: c) }
                VectorMath.store(v, o + i, count: c)
                if let ph { VectorMath.store(VectorMath.load(xr + i, stride: 1, count: c) * rinv, ph + r * n + i, count: c) }
                i += c
            }
            let k = Vec(repeating: rinv * rinv * rinv * dot(o, xr, n) / Float(n))
            let rv = Vec(repeating: rinv)
            i = 0
            while i < n {
                let c = Swift.min(Vec.scalarCount, n - i)
                let v = VectorMath.load(o + i, stride: 1, count: c) * rv - VectorMath.load(xr + i, stride: 1, count: c) * k
                VectorMath.store(v, o + i, count: c)
                i += c
            }
        }
        var dw: Tensor?
        if let xhat {
            dw = try (xhat * gc).reshaped([rows, n]).sum(axis: 0)
        }
        return (dx, dw)
    }
}
