#if arch(x86_64) && GRM_SHA
import _Builtin_intrinsics.intel
#endif

/// SHA-256's compression function (FIPS 180-4, section 6.2.2) over whole 64-byte blocks, for
/// hashing model files (a 100 MB base is hashed each time an artifact that names it loads).
/// Two paths with the same results: the x86 SHA extensions (`sha256rnds2`, `sha256msg1/2`;
/// AMD since Zen 1, Intel since Ice Lake and Goldmont), where the build compiled them (Package.swift
/// defines GRM_SHA from the build machine's `sha_ni` flag) and the CPU reports them; portable
/// Swift elsewhere, and when `GRM_ISA=generic` asks for the portable kernels.
public enum SHA256Blocks {
    /// The eight working words a..h (H0..H7 of the standard).
    public typealias State = SIMD8<UInt32>

    public static let initial = State(
        0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19)

    /// Whether `compress` runs the SHA extensions in this process.
    public static var usesSHAExtensions: Bool {
        #if arch(x86_64) && GRM_SHA
        return CPU.flags.contains("sha_ni") && KernelISA.level > .generic
        #else
        return false
        #endif
    }

    /// Updates `state` with `blocks` consecutive 64-byte blocks at `p`.
    public static func compress(_ state: inout State, _ p: UnsafeRawPointer, blocks: Int) {
        #if arch(x86_64) && GRM_SHA
        if usesSHAExtensions { return compressSHANI(&state, p, blocks: blocks) }
        #endif
        compressPortable(&state, p, blocks: blocks)
    }

    static let k: [UInt32] = [
        0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
        0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
        0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
        0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
        0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
        0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
        0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
        0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2
    ]

    /// The standard's rounds, one at a time: the message schedule in a 16-word ring.
    static func compressPortable(_ state: inout State, _ p: UnsafeRawPointer, blocks: Int) {
        @inline(__always) func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
        k.withUnsafeBufferPointer { k in
            var w = SIMD16<UInt32>()
            for b in 0..<blocks {
                let block = p + 64 * b
                var a = state[0], bb = state[1], c = state[2], d = state[3]
                var e = state[4], f = state[5], g = state[6], h = state[7]
                for t in 0..<64 {
                    let wt: UInt32
                    if t < 16 {
                        wt = UInt32(bigEndian: block.loadUnaligned(fromByteOffset: 4 * t, as: UInt32.self))
                    } else {
                        let w15 = w[(t - 15) & 15], w2 = w[(t - 2) & 15]
                        let s0 = rotr(w15, 7) ^ rotr(w15, 18) ^ (w15 >> 3)
                        let s1 = rotr(w2, 17) ^ rotr(w2, 19) ^ (w2 >> 10)
                        wt = w[t & 15] &+ s0 &+ w[(t - 7) & 15] &+ s1
                    }
                    w[t & 15] = wt
                    let t1 = h &+ (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) &+ ((e & f) ^ (~e & g)) &+ k[t] &+ wt
                    let t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) &+ ((a & bb) ^ (a & c) ^ (bb & c))
                    h = g
                    g = f
                    f = e
                    e = d &+ t1
                    d = c
                    c = bb
                    bb = a
                    a = t1 &+ t2
                }
                state &+= State(a, bb, c, d, e, f, g, h)
            }
        }
    }

    #if arch(x86_64) && GRM_SHA
    /// The SHA extensions keep the state as two registers, ABEF and CDGH (high lane first), and
    /// run two rounds per `sha256rnds2`; `sha256msg1/2` extend the schedule four words at a time.
    /// Shuffles that C writes with immediate-operand macros (which Swift cannot import) are
    /// written as SIMD lane selections, which compile to the same instructions.
    static func compressSHANI(_ state: inout State, _ p: UnsafeRawPointer, blocks: Int) {
        typealias V = SIMD4<UInt32>
        @inline(__always) func m(_ v: V) -> __m128i { unsafeBitCast(v, to: __m128i.self) }
        @inline(__always) func v(_ x: __m128i) -> V { unsafeBitCast(x, to: V.self) }
        // Words of a block are big-endian: swap each 32-bit lane's bytes.
        let swap = m(unsafeBitCast(SIMD16<UInt8>(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12), to: V.self))
        var abef = m(V(state[5], state[4], state[1], state[0]))
        var cdgh = m(V(state[7], state[6], state[3], state[2]))
        k.withUnsafeBufferPointer { k in
            let kp = UnsafeRawPointer(k.baseAddress!)
            for b in 0..<blocks {
                let block = p + 64 * b
                let saveABEF = abef, saveCDGH = cdgh
                var msg = (
                    _mm_shuffle_epi8(block.loadUnaligned(as: __m128i.self), swap),
                    _mm_shuffle_epi8(block.loadUnaligned(fromByteOffset: 16, as: __m128i.self), swap),
                    _mm_shuffle_epi8(block.loadUnaligned(fromByteOffset: 32, as: __m128i.self), swap),
                    _mm_shuffle_epi8(block.loadUnaligned(fromByteOffset: 48, as: __m128i.self), swap)
                )
                @inline(__always) func get(_ i: Int) -> __m128i {
                    switch i & 3 {
                    case 0: msg.0
                    case 1: msg.1
                    case 2: msg.2
                    default: msg.3
                    }
                }
                @inline(__always) func set(_ i: Int, _ x: __m128i) {
                    switch i & 3 {
                    case 0: msg.0 = x
                    case 1: msg.1 = x
                    case 2: msg.2 = x
                    default: msg.3 = x
                    }
                }
                // Rounds 4g..4g+3 use schedule words W[4g..4g+3] = msg[g % 4].
                for g in 0..<16 {
                    let current = get(g)
                    let wk = _mm_add_epi32(current, kp.loadUnaligned(fromByteOffset: 16 * g, as: __m128i.self))
                    cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk)
                    if g >= 3 && g <= 14 {
                        // W[4g+4..4g+7]: finish msg[g+1] (msg1 applied three groups ago) with W[4g-3..4g].
                        let previous = v(get(g - 1)), now = v(current)
                        let w7 = m(V(previous[1], previous[2], previous[3], now[0]))
                        set(g + 1, _mm_sha256msg2_epu32(_mm_add_epi32(get(g + 1), w7), current))
                    }
                    let high = v(wk)
                    abef = _mm_sha256rnds2_epu32(abef, cdgh, m(V(high[2], high[3], high[0], high[0])))
                    if g >= 1 && g <= 12 { set(g - 1, _mm_sha256msg1_epu32(get(g - 1), current)) }
                }
                abef = _mm_add_epi32(abef, saveABEF)
                cdgh = _mm_add_epi32(cdgh, saveCDGH)
            }
        }
        let x = v(abef), y = v(cdgh)
        state = State(x[3], x[2], y[3], y[2], x[1], x[0], y[1], y[0])
    }
    #endif
}
