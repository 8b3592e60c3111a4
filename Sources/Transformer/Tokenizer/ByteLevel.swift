/// GPT-2's byte-to-unicode table: every byte becomes a printable code point so that byte-level
/// BPE vocabularies can be stored as text. Bytes 0x21-0x7E, 0xA1-0xAC and 0xAE-0xFF map to
/// themselves; the other 68 bytes map, in increasing order, to U+0100 upward (space -> U+0120 'Ġ').
public enum ByteLevel {
    /// The code point for each byte.
    public static let byteToScalar: [UInt32] = {
        var map = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b) {
                map[b] = UInt32(b)
            } else {
                map[b] = next
                next += 1
            }
        }
        return map
    }()

    /// The byte for each mapped code point (U+0000..U+0143), -1 where none.
    public static let scalarToByte: [Int16] = {
        var inverse = [Int16](repeating: -1, count: 0x144)
        for (b, cp) in byteToScalar.enumerated() { inverse[Int(cp)] = Int16(b) }
        return inverse
    }()

    /// The UTF-8 bytes of the mapped text for `bytes` (what a byte-level vocabulary stores).
    public static func encode<S: Sequence>(_ bytes: S) -> [UInt8] where S.Element == UInt8 {
        var out: [UInt8] = []
        for b in bytes { UTF8Lenient.append(byteToScalar[Int(b)], to: &out) }
        return out
    }

    /// The original bytes of a mapped token text, or nil if a code point is outside the table.
    public static func decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for s in text.unicodeScalars {
            let v = Int(s.value)
            guard v < scalarToByte.count, scalarToByte[v] >= 0 else { return nil }
            out.append(UInt8(scalarToByte[v]))
        }
        return out
    }
}
