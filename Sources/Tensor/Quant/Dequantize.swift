/// Block dequantisers: each produces, bit for bit, what ggml's reference `dequantize_row_*`
/// computes (the same float operations in the same order, no fused multiply-add).
///
/// Layouts (bytes; f16 little-endian; "nibbles" are low nibble first):
/// - Q4_0 (18): d, qs[16]. x[j] = (lo(qs[j]) - 8) d, x[j+16] = (hi(qs[j]) - 8) d.
/// - Q4_1 (20): d, m, qs[16]. x = q d + m, same order.
/// - Q5_0 (22): d, qh (u32), qs[16]. Bit j of qh is bit 4 of x[j]; (q - 16) d.
/// - Q5_1 (24): d, m, qh, qs[16]. q d + m.
/// - Q8_0 (34): d, i8 qs[32]. q d.
/// - Q2_K .. Q6_K: 256-value super-blocks, see each function.
enum Dequant {
    static func q4_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = QBits.f16(b, 0)
        for j in 0..<16 {
            let q = QBits.byte(b, 2 + j)
            y[j] = Float(Int32(q & 0xF) - 8) * d
            y[j + 16] = Float(Int32(q >> 4) - 8) * d
        }
    }

    static func q4_1(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = QBits.f16(b, 0), m = QBits.f16(b, 2)
        for j in 0..<16 {
            let q = QBits.byte(b, 4 + j)
            y[j] = Float(q & 0xF) * d + m
            y[j + 16] = Float(q >> 4) * d + m
        }
    }

    static func q5_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = QBits.f16(b, 0), qh = QBits.u32(b, 2)
        for j in 0..<16 {
            let q = UInt32(QBits.byte(b, 6 + j))
            let h0 = ((qh >> UInt32(j)) << 4) & 0x10
            let h1 = (qh >> UInt32(j + 12)) & 0x10
            y[j] = Float(Int32((q & 0xF) | h0) - 16) * d
            y[j + 16] = Float(Int32((q >> 4) | h1) - 16) * d
        }
    }

    static func q5_1(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = QBits.f16(b, 0), m = QBits.f16(b, 2), qh = QBits.u32(b, 4)
        for j in 0..<16 {
            let q = UInt32(QBits.byte(b, 8 + j))
            let h0 = ((qh >> UInt32(j)) << 4) & 0x10
            let h1 = (qh >> UInt32(j + 12)) & 0x10
            y[j] = Float((q & 0xF) | h0) * d + m
            y[j + 16] = Float((q >> 4) | h1) * d + m
        }
    }

    static func q8_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = QBits.f16(b, 0)
        for j in 0..<32 {
            y[j] = Float(Int8(bitPattern: QBits.byte(b, 2 + j))) * d
        }
    }

    /// Q2_K (84): scales[16] (low nibble scale, high nibble min), qs[64], d, dmin. Value
    /// e = 128 h + 32 s + l (h < 2, s < 4, l < 32) is bits 2s..2s+1 of qs[32 h + l], in sub-block e / 16.
    static func q2_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = QBits.f16(b, 80), dmin = QBits.f16(b, 82)
        for h in 0..<2 {
            for s in 0..<4 {
                for half in 0..<2 {
                    let e0 = 128 * h + 32 * s + 16 * half
                    let sc = QBits.byte(b, e0 / 16)
                    let dl = d * Float(sc & 0xF), ml = dmin * Float(sc >> 4)
                    for l in 0..<16 {
                        let q = (QBits.byte(b, 16 + 32 * h + 16 * half + l) >> UInt8(2 * s)) & 3
                        y[e0 + l] = dl * Float(q) - ml
                    }
                }
            }
        }
    }

    /// Q3_K (110): hmask[32], qs[64], scales[12] (16 six-bit scales), d. Low bits as Q2_K; the
    /// value is lowered by 4 when bit e / 32 of hmask[e % 32] is clear; scale (s - 32) d.
    static func q3_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = QBits.f16(b, 108)
        for h in 0..<2 {
            for s in 0..<4 {
                let bit = UInt8(4 * h + s)
                for half in 0..<2 {
                    let e0 = 128 * h + 32 * s + 16 * half
                    let dl = d * Float(q3Scale(b, e0 / 16))
                    for l in 0..<16 {
                        let i = 16 * half + l
                        let low = Int32((QBits.byte(b, 32 + 32 * h + i) >> UInt8(2 * s)) & 3)
                        let high: Int32 = (QBits.byte(b, i) >> bit) & 1 != 0 ? 0 : 4
                        y[e0 + l] = dl * Float(low - high)
                    }
                }
            }
        }
    }

    /// Six-bit scale `j` (0..<16) of a Q3_K block, minus 32: low nibble from byte j (j < 8) or
    /// the high nibble of byte j - 8, top two bits from byte 8 + j % 4 at bit 2 (j / 4).
    @inline(always) static func q3Scale(_ b: UnsafeRawPointer, _ j: Int) -> Int32 {
        let lo = j < 8 ? QBits.byte(b, 96 + j) & 0xF : QBits.byte(b, 96 + j - 8) >> 4
        let hi = (QBits.byte(b, 104 + j % 4) >> UInt8(2 * (j / 4))) & 3
        return Int32(lo | (hi << 4)) - 32
    }

    /// Q4_K (144): d, dmin, scales[12] (8 six-bit scales and mins), qs[128]. Chunk c < 4 holds
    /// values 64c..64c+31 in the low nibbles of qs[32c..], 64c+32.. in the high ones.
    static func q4_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = QBits.f16(b, 0), dmin = QBits.f16(b, 2)
        let sc = b + 4
        for c in 0..<4 {
            let (s0, m0) = QBits.scaleMinK4(2 * c, sc)
            let (s1, m1) = QBits.scaleMinK4(2 * c + 1, sc)
            let d0 = d * Float(s0), dm0 = dmin * Float(m0)
            let d1 = d * Float(s1), dm1 = dmin * Float(m1)
            for l in 0..<32 {
                let q = QBits.byte(b, 16 + 32 * c + l)
                y[64 * c + l] = d0 * Float(q & 0xF) - dm0
                y[64 * c + 32 + l] = d1 * Float(q >> 4) - dm1
            }
        }
    }

    /// Q5_K (176): d, dmin, scales[12], qh[32], qs[128]. As Q4_K plus bit 4 of value e from
    /// bit e / 32 of qh[e % 32].
    static func q5_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = QBits.f16(b, 0), dmin = QBits.f16(b, 2)
        let sc = b + 4
        for c in 0..<4 {
            let (s0, m0) = QBits.scaleMinK4(2 * c, sc)
            let (s1, m1) = QBits.scaleMinK4(2 * c + 1, sc)
            let d0 = d * Float(s0), dm0 = dmin * Float(m0)
            let d1 = d * Float(s1), dm1 = dmin * Float(m1)
            for l in 0..<32 {
                let q = QBits.byte(b, 48 + 32 * c + l), h = QBits.byte(b, 16 + l)
                let h0: UInt8 = (h >> UInt8(2 * c)) & 1 != 0 ? 16 : 0
                let h1: UInt8 = (h >> UInt8(2 * c + 1)) & 1 != 0 ? 16 : 0
                y[64 * c + l] = d0 * Float((q & 0xF) + h0) - dm0
                y[64 * c + 32 + l] = d1 * Float((q >> 4) + h1) - dm1
            }
        }
    }

    /// Q6_K (210): ql[128], qh[64], i8 scales[16], d. In half h < 2, for l < 32, values
    /// 128h + l + 32k (k < 4) take their low nibble from ql[64h + l + 32(k & 1)] (high nibble when
    /// k >= 2) and bits 4-5 from bits 2k..2k+1 of qh[32h + l]; (q - 32) d scale[e / 16].
    static func q6_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = QBits.f16(b, 208)
        for h in 0..<2 {
            for l in 0..<32 {
                let qh = QBits.byte(b, 128 + 32 * h + l)
                for k in 0..<4 {
                    let ql = QBits.byte(b, 64 * h + l + 32 * (k & 1))
                    let low = k < 2 ? ql & 0xF : ql >> 4
                    let q = Int32(low | (((qh >> UInt8(2 * k)) & 3) << 4)) - 32
                    let e = 128 * h + 32 * k + l
                    let s = Int8(bitPattern: QBits.byte(b, 192 + e / 16))
                    y[e] = d * Float(s) * Float(q)
                }
            }
        }
    }
}
