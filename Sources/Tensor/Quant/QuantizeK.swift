/// Quantisers for the 256-value "K" super-block formats, following ggml's reference
/// `quantize_row_q{2,4,5,6}_K_ref` (no importance matrix) operation for operation: per sub-block
/// a scale (and min) search, then the sub-block scales quantised to 4, 6 or 8 bits against one
/// f16 super-block scale, then every value re-quantised against its stored scale.
extension Quantize {
    /// ggml's `make_qkx2_quants`: levels 0...nmax with scale and min for `n` values, weighted;
    /// tries `nstep + 1` scales around nmax / (max - min). Returns (scale, -min); writes L.
    static func makeQKX2(
        _ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
        _ L: UnsafeMutablePointer<UInt8>, _ aux: UnsafeMutablePointer<UInt8>,
        rmin: Float, rdelta: Float, nstep: Int, useMAD: Bool
    ) -> (scale: Float, min: Float) {
        var lo = x[0], hi = x[0]
        var sumW = w[0]
        var sumX = sumW * x[0]
        for i in 1..<n {
            if x[i] < lo { lo = x[i] }
            if x[i] > hi { hi = x[i] }
            sumW += w[i]
            sumX += w[i] * x[i]
        }
        if lo > 0 { lo = 0 }
        if hi == lo {
            for i in 0..<n { L[i] = 0 }
            return (0, -lo)
        }
        let fmax = Float(nmax)
        var iscale = fmax / (hi - lo)
        var scale = 1 / iscale
        var best: Float = 0
        for i in 0..<n {
            let l = Swift.max(0, Swift.min(nmax, QBits.nearestInt(iscale * (x[i] - lo))))
            L[i] = UInt8(truncatingIfNeeded: l)
            var diff = scale * Float(l) + lo - x[i]
            diff = useMAD ? abs(diff) : diff * diff
            best += w[i] * diff
        }
        if nstep < 1 { return (scale, -lo) }
        for step in 0...nstep {
            iscale = (rmin + rdelta * Float(step) + fmax) / (hi - lo)
            var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
            for i in 0..<n {
                let l = Swift.max(0, Swift.min(nmax, QBits.nearestInt(iscale * (x[i] - lo))))
                aux[i] = UInt8(truncatingIfNeeded: l)
                let fl = Float(l)
                sumL += w[i] * fl
                sumL2 += w[i] * fl * fl
                sumXL += w[i] * fl * x[i]
            }
            let D = sumW * sumL2 - sumL * sumL
            if D > 0 {
                var thisScale = (sumW * sumXL - sumX * sumL) / D
                var thisMin = (sumL2 * sumX - sumL * sumXL) / D
                if thisMin > 0 {
                    thisMin = 0
                    thisScale = sumXL / sumL2
                }
                var err: Float = 0
                for i in 0..<n {
                    var diff = thisScale * Float(aux[i]) + thisMin - x[i]
                    diff = useMAD ? abs(diff) : diff * diff
                    err += w[i] * diff
                }
                if err < best {
                    for i in 0..<n { L[i] = aux[i] }
                    best = err
                    scale = thisScale
                    lo = thisMin
                }
            }
        }
        return (scale, -lo)
    }

    /// ggml's `make_qx_quants` with rmse_type 1 and no weights: symmetric levels -nmax..<nmax
    /// (stored + nmax in L), weight x^2, 18 scales tried around -nmax / max. Returns the scale.
    static func makeQX(_ n: Int, _ nmax: Int32, _ x: UnsafePointer<Float>, _ L: UnsafeMutablePointer<UInt8>) -> Float {
        var max: Float = 0, amax: Float = 0
        for i in 0..<n where abs(x[i]) > amax {
            amax = abs(x[i])
            max = x[i]
        }
        if amax < 1e-15 {
            for i in 0..<n { L[i] = 0 }
            return 0
        }
        let fmax = Float(nmax)
        var iscale = -fmax / max
        var sumLX: Float = 0, sumL2: Float = 0
        for i in 0..<n {
            let l = Swift.max(-nmax, Swift.min(nmax - 1, QBits.nearestInt(iscale * x[i])))
            L[i] = UInt8(truncatingIfNeeded: l + nmax)
            let w = x[i] * x[i], fl = Float(l)
            sumLX += w * x[i] * fl
            sumL2 += w * fl * fl
        }
        var scale: Float = sumL2 != 0 ? sumLX / sumL2 : 0
        var best = scale * sumLX
        for step in -9...9 where step != 0 {
            iscale = -(fmax + 0.1 * Float(step)) / max
            sumLX = 0
            sumL2 = 0
            for i in 0..<n {
                let l = Swift.max(-nmax, Swift.min(nmax - 1, QBits.nearestInt(iscale * x[i])))
                let w = x[i] * x[i], fl = Float(l)
                sumLX += w * x[i] * fl
                sumL2 += w * fl * fl
            }
            if sumL2 > 0 && sumLX * sumLX > best * sumL2 {
                for i in 0..<n {
                    let l = Swift.max(-nmax, Swift.min(nmax - 1, QBits.nearestInt(iscale * x[i])))
                    L[i] = UInt8(truncatingIfNeeded: l + nmax)
                }
                scale = sumLX / sumL2
                best = scale * sumLX
            }
        }
        return scale
    }

    /// Q2_K: 16 sub-blocks of 16, 2-bit levels, 4-bit scales and mins.
    static func q2_K(_ x: UnsafePointer<Float>, _ b: UnsafeMutableRawPointer) {
        withScratch { L, aux, w, scales, mins in
            var maxScale: Float = 0, maxMin: Float = 0
            for j in 0..<16 {
                for l in 0..<16 { w[l] = abs(x[16 * j + l]) }
                (scales[j], mins[j]) = makeQKX2(
                    16, 3, x + 16 * j, w, L + 16 * j, aux,
                    rmin: -0.5, rdelta: 0.1, nstep: 15, useMAD: true)
                if scales[j] > maxScale { maxScale = scales[j] }
                if mins[j] > maxMin { maxMin = mins[j] }
            }
            var packed = [UInt8](repeating: 0, count: 16)
            if maxScale > 0 {
                let iscale = 15 / maxScale
                for j in 0..<16 { packed[j] = UInt8(truncatingIfNeeded: QBits.nearestInt(iscale * scales[j])) }
                QBits.storeF16(maxScale / 15, b, 80)
            } else {
                QBits.storeF16(0, b, 80)
            }
            if maxMin > 0 {
                let iscale = 15 / maxMin
                for j in 0..<16 { packed[j] |= UInt8(truncatingIfNeeded: QBits.nearestInt(iscale * mins[j]) << 4) }
                QBits.storeF16(maxMin / 15, b, 82)
            } else {
                QBits.storeF16(0, b, 82)
            }
            for j in 0..<16 { b.storeBytes(of: packed[j], toByteOffset: j, as: UInt8.self) }
            let dAll = QBits.f16(b, 80), mAll = QBits.f16(b, 82)
            for j in 0..<16 {
                let d = dAll * Float(packed[j] & 0xF)
                if d == 0 { continue }
                let dm = mAll * Float(packed[j] >> 4)
                for i in 0..<16 {
                    L[16 * j + i] = UInt8(Swift.max(0, Swift.min(3, QBits.nearestInt((x[16 * j + i] + dm) / d))))
                }
            }
            for h in 0..<2 {
                for l in 0..<32 {
                    let e = 128 * h + l
                    let q = L[e] | (L[e + 32] << 2) | (L[e + 64] << 4) | (L[e + 96] << 6)
                    b.storeBytes(of: q, toByteOffset: 16 + 32 * h + l, as: UInt8.self)
                }
            }
        }
    }

    /// Q4_K (nmax 15) and Q5_K (nmax 31): 8 sub-blocks of 32, 6-bit scales and mins.
    static func q4_K(_ x: UnsafePointer<Float>, _ b: UnsafeMutableRawPointer) { q45_K(x, b, fiveBit: false) }
    static func q5_K(_ x: UnsafePointer<Float>, _ b: UnsafeMutableRawPointer) { q45_K(x, b, fiveBit: true) }

    static func q45_K(_ x: UnsafePointer<Float>, _ b: UnsafeMutableRawPointer, fiveBit: Bool) {
        withScratch { L, aux, w, scales, mins in
            let nmax: Int32 = fiveBit ? 31 : 15
            var maxScale: Float = 0, maxMin: Float = 0
            for j in 0..<8 {
                var sumX2: Float = 0
                for l in 0..<32 { sumX2 += x[32 * j + l] * x[32 * j + l] }
                let av = (sumX2 / 32).squareRoot()
                for l in 0..<32 { w[l] = av + abs(x[32 * j + l]) }
                (scales[j], mins[j]) = makeQKX2(
                    32, nmax, x + 32 * j, w, L + 32 * j, aux,
                    rmin: fiveBit ? -0.5 : -1, rdelta: 0.1,
                    nstep: fiveBit ? 15 : 20, useMAD: false)
                if scales[j] > maxScale { maxScale = scales[j] }
                if mins[j] > maxMin { maxMin = mins[j] }
            }
            let invScale: Float = maxScale > 0 ? 63 / maxScale : 0
            let invMin: Float = maxMin > 0 ? 63 / maxMin : 0
            let sc = b + 4
            for j in 0..<12 { sc.storeBytes(of: 0, toByteOffset: j, as: UInt8.self) }
            for j in 0..<8 {
                let ls = Swift.min(63, UInt8(truncatingIfNeeded: QBits.nearestInt(invScale * scales[j])))
                let lm = Swift.min(63, UInt8(truncatingIfNeeded: QBits.nearestInt(invMin * mins[j])))
                if j < 4 {
                    sc.storeBytes(of: ls, toByteOffset: j, as: UInt8.self)
                    sc.storeBytes(of: lm, toByteOffset: j + 4, as: UInt8.self)
                } else {
                    sc.storeBytes(of: (ls & 0xF) | ((lm & 0xF) << 4), toByteOffset: j + 4, as: UInt8.self)
                    sc.storeBytes(of: QBits.byte(sc, j - 4) | ((ls >> 4) << 6), toByteOffset: j - 4, as: UInt8.self)
                    sc.storeBytes(of: QBits.byte(sc, j) | ((lm >> 4) << 6), toByteOffset: j, as: UInt8.self)
                }
            }
            QBits.storeF16(maxScale / 63, b, 0)
            QBits.storeF16(maxMin / 63, b, 2)
            let dAll = QBits.f16(b, 0), mAll = QBits.f16(b, 2)
            for j in 0..<8 {
                let (s, m) = QBits.scaleMinK4(j, sc)
                let d = dAll * Float(s)
                if d == 0 { continue }
                let dm = mAll * Float(m)
                for i in 0..<32 {
                    let l = Swift.max(0, Swift.min(nmax, QBits.nearestInt((x[32 * j + i] + dm) / d)))
                    L[32 * j + i] = UInt8(l)
                }
            }
            if fiveBit {
                for l in 0..<32 { b.storeBytes(of: 0, toByteOffset: 16 + l, as: UInt8.self) }
                for c in 0..<4 {
                    for l in 0..<32 {
                        var l1 = L[64 * c + l], l2 = L[64 * c + 32 + l]
                        var h = QBits.byte(b, 16 + l)
                        if l1 > 15 {
                            l1 -= 16
                            h |= 1 << UInt8(2 * c)
                        }
                        if l2 > 15 {
                            l2 -= 16
                            h |= 2 << UInt8(2 * c)
                        }
                        b.storeBytes(of: h, toByteOffset: 16 + l, as: UInt8.self)
                        b.storeBytes(of: l1 | (l2 << 4), toByteOffset: 48 + 32 * c + l, as: UInt8.self)
                    }
                }
            } else {
                for c in 0..<4 {
                    for l in 0..<32 {
                        b.storeBytes(
                            of: L[64 * c + l] | (L[64 * c + 32 + l] << 4),
                            toByteOffset: 16 + 32 * c + l, as: UInt8.self)
                    }
                }
            }
        }
    }

    /// Q6_K: 16 sub-blocks of 16, 6-bit levels, 8-bit signed scales.
    static func q6_K(_ x: UnsafePointer<Float>, _ b: UnsafeMutableRawPointer) {
        withScratch { L, _, _, scales, _ in
            var maxScale: Float = 0, maxAbs: Float = 0
            for j in 0..<16 {
                scales[j] = makeQX(16, 32, x + 16 * j, L + 16 * j)
                if abs(scales[j]) > maxAbs {
                    maxAbs = abs(scales[j])
                    maxScale = scales[j]
                }
            }
            if maxAbs < 1e-15 {
                b.initializeMemory(as: UInt8.self, repeating: 0, count: 210)
                return
            }
            let iscale = -128 / maxScale
            QBits.storeF16(1 / iscale, b, 208)
            for j in 0..<16 {
                let s = Swift.min(127, QBits.nearestInt(iscale * scales[j]))
                b.storeBytes(of: UInt8(truncatingIfNeeded: s), toByteOffset: 192 + j, as: UInt8.self)
            }
            let dAll = QBits.f16(b, 208)
            for j in 0..<16 {
                let d = dAll * Float(Int8(bitPattern: QBits.byte(b, 192 + j)))
                if d == 0 { continue }
                for i in 0..<16 {
                    let l = Swift.max(-32, Swift.min(31, QBits.nearestInt(x[16 * j + i] / d)))
                    L[16 * j + i] = UInt8(l + 32)
                }
            }
            for h in 0..<2 {
                for l in 0..<32 {
                    let e = 128 * h + l
                    let q1 = L[e] & 0xF, q2 = L[e + 32] & 0xF, q3 = L[e + 64] & 0xF, q4 = L[e + 96] & 0xF
                    b.storeBytes(of: q1 | (q3 << 4), toByteOffset: 64 * h + l, as: UInt8.self)
                    b.storeBytes(of: q2 | (q4 << 4), toByteOffset: 64 * h + l + 32, as: UInt8.self)
                    let qh = (L[e] >> 4) | ((L[e + 32] >> 4) << 2) | ((L[e + 64] >> 4) << 4) | ((L[e + 96] >> 4) << 6)
                    b.storeBytes(of: qh, toByteOffset: 128 + 32 * h + l, as: UInt8.self)
                }
            }
        }
    }

    /// Stack scratch for one super-block: levels L[256], aux levels[32], weights[32],
    /// scales[16], mins[16].
    @inline(always) static func withScratch(
        _ body: (
            UnsafeMutablePointer<UInt8>, UnsafeMutablePointer<UInt8>,
            UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>,
            UnsafeMutablePointer<Float>
        ) -> Void
    ) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 288) { bytes in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: 64) { floats in
                let L = bytes.baseAddress!, f = floats.baseAddress!
                L.initialize(repeating: 0, count: 288)
                f.initialize(repeating: 0, count: 64)
                body(L, L + 256, f, f + 32, f + 48)
            }
        }
    }
}
