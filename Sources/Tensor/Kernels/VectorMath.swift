/// Vectorised transcendental functions on `Vec`, used by every kernel that needs them
/// so that contiguous, strided and tail elements all get bit-identical results.
///
/// exp: Cody-Waite range reduction x = n ln2 + r, |r| <= ln2/2, e^r ~ 1 + r + r^2 q(r) with q a
/// cubic fitted here for minimal relative error (1.05e-7 in exact arithmetic, 1.6e-7 in f32), and
/// 2^n built in the exponent bits. Relative error below 2.5e-7 (about 2 ulp) over the normal range,
/// measured by a test; exp(-inf) = 0, exp(+inf) = inf, NaN propagates.
public enum VectorMath {
    public typealias V = Vec

    @inline(always) public static func exp(_ x: V) -> V {
        let log2e: Float = 1.442_695_040_888_963_4
        let ln2hi: Float = 0.693_359_375
        let ln2lo: Float = -2.121_944_400_546_905_8e-4
        // No clamping: lanes outside [-87.34, 88.72] compute garbage that the two selects at the
        // end replace (saves two instructions per vector in this compute-bound function).
        let (n, ni) = VectorMath.roundToInteger(x * log2e)
        var r = x.addingProduct(n, V(repeating: -ln2hi))
        r = r.addingProduct(n, V(repeating: -ln2lo))
        var p = V(repeating: 8.312_53e-3)
        p = V(repeating: 4.189_011e-2).addingProduct(p, r)
        p = V(repeating: 1.666_711_4e-1).addingProduct(p, r)
        p = V(repeating: 4.999_923_2e-1).addingProduct(p, r)
        p = r.addingProduct(p, r * r)
        p = p + 1
        // 2^n as two factors so that n = 128 (x near 88.7) does not overflow the exponent field.
        let half = ni &>> 1
        let s1 = VectorMath.floats(VectorMath.uint32s((half &+ 127) &<< 23))
        let s2 = VectorMath.floats(VectorMath.uint32s((ni &- half &+ 127) &<< 23))
        var result = p * s1 * s2
        // Underflow to exactly 0 (softmax masks rely on exp(-inf) == 0) and overflow to infinity.
        // NaN needs no case of its own: the polynomial carries it.
        result.replace(with: 0, where: x .< -87.336_55)
        result.replace(with: Float.infinity, where: x .> 88.722_83)
        return result
    }

    /// tanh(x) = sign(x) (1 - 2 / (e^{2|x|} + 1)); for |x| < 0.0625 an odd polynomial keeps the
    /// relative error small near zero.
    @inline(always) public static func tanh(_ x: V) -> V {
        let a = floats(bits(x) & 0x7FFF_FFFF)
        let e = exp(a + a)
        var t = 1 - 2 / (e + 1)
        let x2 = x * x
        // x - x^3/3 + 2x^5/15 - 17x^7/315, accurate to < 1 ulp for |x| < 0.0625.
        var q = x2 * (-17.0 / 315) + (2.0 / 15)
        q = q * x2 + (-1.0 / 3)
        q = q * x2 + 1
        t.replace(with: a * q, where: a .< 0.0625)
        t.replace(with: 1, where: a .> 10)
        var result = floats(bits(t) | (bits(x) & 0x8000_0000))
        result.replace(with: x, where: x .!= x)
        return result
    }

    /// SiLU (swish): x * sigmoid(x) = x / (1 + e^-x).
    @inline(always) public static func silu(_ x: V) -> V {
        x / (1 + exp(-x))
    }

    /// sigmoid(x) = 1 / (1 + e^-x).
    @inline(always) public static func sigmoid(_ x: V) -> V {
        1 / (1 + exp(-x))
    }

    /// GELU, tanh approximation (as GPT-2, ggml and PyTorch's approximate="tanh"):
    /// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
    @inline(always) public static func gelu(_ x: V) -> V {
        let k: Float = 0.797_884_560_802_865_4
        return 0.5 * x * (1 + tanh(k * (x + 0.044_715 * x * x * x)))
    }

    /// Natural logarithm, for log-softmax and losses: frexp-style split into 2^e * m with m in
    /// [sqrt(1/2), sqrt(2)), then a degree-8 polynomial in (m - 1) (Cephes' logf coefficients).
    @inline(always) public static func log(_ x: V) -> V {
        let u = bits(x)
        var e = VectorMath.int32s((u &>> 23) & 0xFF) &- 126
        var m = floats((u & 0x007F_FFFF) | 0x3F00_0000)  // in [0.5, 1)
        let lowM = m .< 0.707_106_77
        e.replace(with: e &- 1, where: lowM)
        m.replace(with: m + m, where: lowM)
        let f = m - 1
        var p = V(repeating: 7.037_683_6e-2)
        p = p * f - 1.151_461_0e-1
        p = p * f + 1.167_699_9e-1
        p = p * f - 1.242_014_1e-1
        p = p * f + 1.424_932_3e-1
        p = p * f - 1.666_805_8e-1
        p = p * f + 2.000_071_5e-1
        p = p * f - 2.499_999_4e-1
        p = p * f + 3.333_333_1e-1
        let f2 = f * f
        let ef = VectorMath.floatFromSmallInt(e)
        var r = f2 * f * p
        r = r + ef * -2.121_944_4e-4
        r = r - 0.5 * f2
        r = f + r
        r = r + ef * 0.693_359_375
        // Zero, negatives, subnormals (rare in practice), infinity and NaN.
        r.replace(with: -Float.infinity, where: x .== 0)
        r.replace(with: Float.nan, where: x .< 0)
        r.replace(with: Float.infinity, where: x .== Float.infinity)
        r.replace(with: x, where: x .!= x)
        let subnormal = (x .> 0) .& (x .< Float.leastNormalMagnitude)
        if any(subnormal) {
            for i in 0..<Vec.scalarCount where subnormal[i] { r[i] = libmLog(x[i]) }
        }
        return r
    }

    /// Horizontal sum of a vector, in a fixed order (pairwise halves).
    /// Horizontal sum, lane by lane in a fixed order.
    @inline(always) public static func sum(_ v: V) -> Float {
        var s = v[0]
        for i in 1..<V.scalarCount { s += v[i] }
        return s
    }

    @inline(always) public static func max(_ v: V) -> Float {
        var m = v[0]
        for i in 1..<V.scalarCount where v[i] > m { m = v[i] }
        return m
    }
}

extension VectorMath {
    /// Loads and stores of up to one vector of floats with any stride; lanes past `count` read as `fill`.
    @inline(always) public static func load(_ p: UnsafePointer<Float>, stride: Int, count: Int, fill: Float = 0) -> Vec {
        if stride == 1 && count == Vec.scalarCount { return UnsafeRawPointer(p).loadUnaligned(as: Vec.self) }
        var v = Vec(repeating: fill)
        for i in 0..<Swift.min(count, Vec.scalarCount) { v[i] = p[i * stride] }
        return v
    }

    @inline(always) public static func store(_ v: Vec, _ p: UnsafeMutablePointer<Float>, count: Int) {
        if count == Vec.scalarCount {
            UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec.self)
            return
        }
        for i in 0..<Swift.min(count, Vec.scalarCount) { p[i] = v[i] }
    }
}
