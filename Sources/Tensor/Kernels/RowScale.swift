/// Rows scaled by powers of two, so that a product that rounds its input to a narrow format
/// (int8 levels with f16 block scales) sees each row in that format's range; multiplying by a
/// power of two is exact, so scaling back afterwards restores the row's own magnitude.
enum RowScale {
    /// dst row r = src row r * 2^e_r, with e_r chosen so that the row's largest magnitude lies in
    /// [2^top, 2^(top+1)) (rows whose largest magnitude is zero or not normal are copied as they
    /// are); `back[r]` gets 2^-e_r. Vectorised, split over the threads by rows.
    static func normalise(
        _ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, rows: Int, width: Int, top: Int,
        back: UnsafeMutablePointer<Float>
    ) {
        let tasks = taskCount(work: rows * width, grain: 1 << 15, limit: ThreadPool.shared.threadCount * 4)
        ThreadPool.shared.parallelRanges(rows, parts: tasks) { range in
            for r in range {
                let s = src + r * width, d = dst + r * width
                var m16 = SIMD16<Float>(repeating: 0)
                var j = 0
                while j + 16 <= width {
                    m16 = pointwiseMax(m16, abs16(s, j))
                    j += 16
                }
                var amax = m16.max()
                while j < width {
                    amax = Swift.max(amax, Swift.abs(s[j]))
                    j += 1
                }
                var up: Float = 1
                back[r] = 1
                if amax.isNormal {
                    let e = top - Int(amax.exponent)
                    up = Float(sign: .plus, exponent: e, significand: 1)
                    back[r] = Float(sign: .plus, exponent: -e, significand: 1)
                }
                multiply(s, d, width, up)
            }
        }
    }

    /// Row r of `p` (rows x width) times `factors[r]`, in place; split over the threads by rows.
    static func apply(_ p: UnsafeMutablePointer<Float>, rows: Int, width: Int, factors: UnsafePointer<Float>) {
        let tasks = taskCount(work: rows * width, grain: 1 << 15, limit: ThreadPool.shared.threadCount * 4)
        ThreadPool.shared.parallelRanges(rows, parts: tasks) { range in
            for r in range where factors[r] != 1 { multiply(p + r * width, p + r * width, width, factors[r]) }
        }
    }

    @inline(__always)
    private static func abs16(_ s: UnsafePointer<Float>, _ j: Int) -> SIMD16<Float> {
        let v = UnsafeRawPointer(s + j).loadUnaligned(as: SIMD16<Float>.self)
        return unsafeBitCast(unsafeBitCast(v, to: SIMD16<UInt32>.self) & 0x7FFF_FFFF, to: SIMD16<Float>.self)
    }

    @inline(__always)
    private static func multiply(_ s: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>, _ n: Int, _ f: Float) {
        var j = 0
        while j + 16 <= n {
            let v = UnsafeRawPointer(s + j).loadUnaligned(as: SIMD16<Float>.self) * f
            UnsafeMutableRawPointer(d + j).storeBytes(of: v, as: SIMD16<Float>.self)
            j += 16
        }
        while j < n {
            d[j] = s[j] * f
            j += 1
        }
    }
}
