/// Unicode classes of code points as the pre-tokenisers see them (llama.cpp's `unicode_cpt_flags`):
/// one general-category group (\p{L}, \p{N}, \p{P}, ...) plus the White_Space property, taken from
/// Swift's Unicode tables (`Unicode.Scalar.Properties`), never from ASCII shortcuts.
public struct CodepointFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let letter = CodepointFlags(rawValue: 1 << 0)  // \p{L}
    public static let number = CodepointFlags(rawValue: 1 << 1)  // \p{N}
    public static let punctuation = CodepointFlags(rawValue: 1 << 2)  // \p{P}
    public static let symbol = CodepointFlags(rawValue: 1 << 3)  // \p{S}
    public static let mark = CodepointFlags(rawValue: 1 << 4)  // \p{M}
    public static let separator = CodepointFlags(rawValue: 1 << 5)  // \p{Z}
    public static let other = CodepointFlags(rawValue: 1 << 6)  // \p{C} (control, format, unassigned, ...)
    public static let whitespace = CodepointFlags(rawValue: 1 << 7)  // White_Space

    /// The flags of `cp` (any value; beyond U+10FFFF and surrogates are `.other`).
    @inline(__always)
    public static func of(_ cp: UInt32) -> CodepointFlags {
        if cp < UInt32(table.count) { return CodepointFlags(rawValue: table[Int(cp)]) }
        return compute(cp)
    }

    /// Flags for the Basic Multilingual Plane and the supplementary planes in use for text
    /// (0..U+2FFFF), computed once; higher code points are computed on each call.
    static let table: [UInt8] = (0..<UInt32(0x30000)).map { compute($0).rawValue }

    static func compute(_ cp: UInt32) -> CodepointFlags {
        guard let scalar = Unicode.Scalar(cp) else { return .other }
        var f: CodepointFlags
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            f = .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            f = .number
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            f = .punctuation
        case .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
            f = .symbol
        case .nonspacingMark, .spacingMark, .enclosingMark:
            f = .mark
        case .spaceSeparator, .lineSeparator, .paragraphSeparator:
            f = .separator
        default:
            f = .other
        }
        if scalar.properties.isWhitespace { f.insert(.whitespace) }
        return f
    }
}
