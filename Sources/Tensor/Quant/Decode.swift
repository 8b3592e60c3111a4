/// Inlinable block decoders with the same float operations as `Dequant` (so bit-identical), written
/// as plain fixed-length loops over typed pointers, which LLVM vectorises (byte widening,
/// int-to-float conversion and the multiply-add in ymm registers).
enum Decode {
    @inline(always) static func f16(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + Vec.scalarCount <= n {
            UnsafeMutableRawPointer(dst + i).storeBytes(of: Half.load(src + 2 * i), as: Vec.self)
            i += Vec.scalarCount
        }
        let s = src.assumingMemoryBound(to: UInt16.self)
        while i < n {
            dst[i] = Half.toFloat(s[i])
            i += 1
        }
    }

    @inline(always) static func bf16(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        let s = src.assumingMemoryBound(to: UInt16.self)
        for i in 0..<n { dst[i] = Float(bitPattern: UInt32(s[i]) &<< 16) }
    }

    @inline(always) static func q4_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = QBits.f16(b, 0)
        let qs = (b + 2).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            let q = qs[j]
            y[j] = Float(Int32(q & 0xF) &- 8) * d
            y[j + 16] = Float(Int32(q >> 4) &- 8) * d
        }
    }

    @inline(always) static func q4_1(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = QBits.f16(b, 0), m = QBits.f16(b, 2)
        let qs = (b + 4).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            let q = qs[j]
            y[j] = Float(q & 0xF) * d + m
            y[j + 16] = Float(q >> 4) * d + m
        }
    }

    @inline(always) static func q5_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = QBits.f16(b, 0), qh = QBits.u32(b, 2)
        let qs = (b + 6).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            let q = UInt32(qs[j])
            let h0 = ((qh &>> UInt32(j)) &<< 4) & 0x10
            let h1 = (qh &>> UInt32(j + 12)) & 0x10
            y[j] = Float(Int32(bitPattern: (q & 0xF) | h0) &- 16) * d
            y[j + 16] = Float(Int32(bitPattern: (q >> 4) | h1) &- 16) * d
        }
    }

    @inline(always) static func q5_1(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = QBits.f16(b, 0), m = QBits.f16(b, 2), qh = QBits.u32(b, 4)
        let qs = (b + 8).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            let q = UInt32(qs[j])
            let h0 = ((qh &>> UInt32(j)) &<< 4) & 0x10
            let h1 = (qh &>> UInt32(j + 12)) & 0x10
            y[j] = Float((q & 0xF) | h0) * d + m
            y[j + 16] = Float((q >> 4) | h1) * d + m
        }
    }

    @inline(always) static func q8_0(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = QBits.f16(b, 0)
        let qs = (b + 2).assumingMemoryBound(to: Int8.self)
        for j in 0..<32 { y[j] = Float(qs[j]) * d }
    }

    /// As `Dequant.q4_K`: per 64-value chunk, d * scale * q - dmin * min.
    @inline(always) static func q4_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = QBits.f16(b, 0), dmin = QBits.f16(b, 2)
        let sc = b + 4
        let qs = (b + 16).assumingMemoryBound(to: UInt8.self)
        for c in 0..<4 {
            let (s0, m0) = QBits.scaleMinK4(2 * c, sc)
            let (s1, m1) = QBits.scaleMinK4(2 * c + 1, sc)
            let d0 = d * Float(s0), dm0 = dmin * Float(m0)
            let d1 = d * Float(s1), dm1 = dmin * Float(m1)
            let q = qs + 32 * c, out = y + 64 * c
            for l in 0..<32 {
                out[l] = d0 * Float(q[l] & 0xF) - dm0
                out[32 + l] = d1 * Float(q[l] >> 4) - dm1
            }
        }
    }

    /// As `Dequant.q2_K`: dl * q - ml per 16 values.
    @inline(always) static func q2_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = QBits.f16(b, 80), dmin = QBits.f16(b, 82)
        let sc = b.assumingMemoryBound(to: UInt8.self)
        let qs = (b + 16).assumingMemoryBound(to: UInt8.self)
        for h in 0..<2 {
            for s in 0..<4 {
                let shift = UInt8(2 * s)
                for half in 0..<2 {
                    let e0 = 128 * h + 32 * s + 16 * half
                    let scv = sc[e0 / 16]
                    let dl = d * Float(scv & 0xF), ml = dmin * Float(scv >> 4)
                    let src = qs + 32 * h + 16 * half, out = y + e0
                    for l in 0..<16 { out[l] = dl * Float((src[l] >> shift) & 3) - ml }
                }
            }
        }
    }

    /// As `Dequant.q3_K`: dl * (low - (high bit clear ? 4 : 0)) per 16 values.
    @inline(always) static func q3_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = QBits.f16(b, 108)
        let hm = b.assumingMemoryBound(to: UInt8.self)
        let qs = (b + 32).assumingMemoryBound(to: UInt8.self)
        for h in 0..<2 {
            for s in 0..<4 {
                let bit = UInt8(4 * h + s), shift = UInt8(2 * s)
                for half in 0..<2 {
                    let e0 = 128 * h + 32 * s + 16 * half
                    let dl = d * Float(Dequant.q3Scale(b, e0 / 16))
                    let src = qs + 32 * h + 16 * half, mask = hm + 16 * half, out = y + e0
                    for l in 0..<16 {
                        let low = Int32((src[l] >> shift) & 3)
                        let high = Int32(((mask[l] >> bit) & 1) ^ 1) &<< 2
                        out[l] = dl * Float(low &- high)
                    }
                }
            }
        }
    }

    /// As `Dequant.q5_K`: Q4_K plus bit 2c (low nibbles) or 2c + 1 (high) of qh[l] as bit 4.
    @inline(always) static func q5_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = QBits.f16(b, 0), dmin = QBits.f16(b, 2)
        let sc = b + 4
        let qh = (b + 16).assumingMemoryBound(to: UInt8.self)
        let qs = (b + 48).assumingMemoryBound(to: UInt8.self)
        for c in 0..<4 {
            let (s0, m0) = QBits.scaleMinK4(2 * c, sc)
            let (s1, m1) = QBits.scaleMinK4(2 * c + 1, sc)
            let d0 = d * Float(s0), dm0 = dmin * Float(m0)
            let d1 = d * Float(s1), dm1 = dmin * Float(m1)
            let q = qs + 32 * c, out = y + 64 * c
            let sh0 = UInt8(2 * c), sh1 = UInt8(2 * c + 1)
            for l in 0..<32 {
                let h = qh[l]
                out[l] = d0 * Float((q[l] & 0xF) | (((h >> sh0) & 1) << 4)) - dm0
                out[32 + l] = d1 * Float((q[l] >> 4) | (((h >> sh1) & 1) << 4)) - dm1
            }
        }
    }

    /// As `Dequant.q6_K`: (d * scale) * (q - 32), in that order. Per half h and l < 32, one byte
    /// of qh and two of ql give the four values 128h + 32k + l; scale index 8h + 2k + l / 16.
    @inline(always) static func q6_K(_ b: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = QBits.f16(b, 208)
        let scales = (b + 192).assumingMemoryBound(to: Int8.self)
        for h in 0..<2 {
            let ql = (b + 64 * h).assumingMemoryBound(to: UInt8.self)
            let qh = (b + 128 + 32 * h).assumingMemoryBound(to: UInt8.self)
            let out = y + 128 * h
            for half in 0..<2 {
                let s = scales + 8 * h + half
                let d0 = d * Float(s[0]), d1 = d * Float(s[2]), d2 = d * Float(s[4]), d3 = d * Float(s[6])
                for l in (16 * half)..<(16 * half + 16) {
                    let a = ql[l], c = ql[l + 32], hb = qh[l]
                    let q0 = Int32((a & 0xF) | ((hb & 3) << 4)) &- 32
                    let q1 = Int32((c & 0xF) | (((hb >> 2) & 3) << 4)) &- 32
                    let q2 = Int32((a >> 4) | (((hb >> 4) & 3) << 4)) &- 32
                    let q3 = Int32((c >> 4) | ((hb >> 6) << 4)) &- 32
                    out[l] = d0 * Float(q0)
                    out[l + 32] = d1 * Float(q1)
                    out[l + 64] = d2 * Float(q2)
                    out[l + 96] = d3 * Float(q3)
                }
            }
        }
    }
}
