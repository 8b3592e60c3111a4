/// UTF-8 decoding and encoding exactly as llama.cpp's tokenizer does it (`unicode_cpts_from_utf8`):
/// a lead byte and the right number of continuation bytes give a code point (overlong forms and
/// surrogates are not rejected); anything else consumes ONE byte and yields U+FFFD. The re-encoded
/// text is therefore what the tokenizer sees, which differs from the input only for invalid UTF-8.
public enum UTF8Lenient {
    public static let replacement: UInt32 = 0xFFFD

    /// Decodes `bytes` into code points, appending to `out`.
    public static func decode(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [UInt32]) {
        let n = bytes.count
        var i = 0
        out.reserveCapacity(out.count + n)
        while i < n {
            let b0 = UInt32(bytes[i])
            if b0 < 0x80 {
                out.append(b0)
                i += 1
                continue
            }
            if b0 & 0x40 == 0 {
                out.append(replacement)
                i += 1
                continue
            }  // stray continuation
            @inline(__always) func cont(_ k: Int) -> UInt32? {
                guard i + k < n else { return nil }
                let c = UInt32(bytes[i + k])
                return c & 0xC0 == 0x80 ? c & 0x3F : nil
            }
            if b0 & 0x20 == 0 {
                if let c1 = cont(1) {
                    out.append((b0 & 0x1F) << 6 | c1)
                    i += 2
                } else {
                    out.append(replacement)
                    i += 1
                }
            } else if b0 & 0x10 == 0 {
                if let c1 = cont(1), let c2 = cont(2) {
                    out.append((b0 & 0x0F) << 12 | c1 << 6 | c2)
                    i += 3
                } else {
                    out.append(replacement)
                    i += 1
                }
            } else if b0 & 0x08 == 0 {
                if let c1 = cont(1), let c2 = cont(2), let c3 = cont(3) {
                    let cp = (b0 & 0x07) << 18 | c1 << 12 | c2 << 6 | c3
                    // llama.cpp cannot re-encode values past U+10FFFF (it throws); treat them as invalid.
                    if cp <= 0x10FFFF {
                        out.append(cp)
                        i += 4
                    } else {
                        out.append(replacement)
                        i += 1
                    }
                } else {
                    out.append(replacement)
                    i += 1
                }
            } else {
                out.append(replacement)
                i += 1
            }
        }
    }

    public static func decode(_ bytes: [UInt8]) -> [UInt32] {
        var out: [UInt32] = []
        bytes.withUnsafeBufferPointer { decode($0, into: &out) }
        return out
    }

    /// Appends the UTF-8 encoding of `cp` (any value up to U+10FFFF, surrogates included).
    @inline(__always)
    public static func append(_ cp: UInt32, to out: inout [UInt8]) {
        if cp < 0x80 {
            out.append(UInt8(cp))
        } else if cp < 0x800 {
            out.append(UInt8(0xC0 | (cp >> 6)))
            out.append(UInt8(0x80 | (cp & 0x3F)))
        } else if cp < 0x10000 {
            out.append(UInt8(0xE0 | (cp >> 12)))
            out.append(UInt8(0x80 | ((cp >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (cp & 0x3F)))
        } else {
            out.append(UInt8(0xF0 | (cp >> 18)))
            out.append(UInt8(0x80 | ((cp >> 12) & 0x3F)))
            out.append(UInt8(0x80 | ((cp >> 6) & 0x3F)))
            out.append(UInt8(0x80 | (cp & 0x3F)))
        }
    }
}
