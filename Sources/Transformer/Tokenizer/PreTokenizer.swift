/// Pre-tokenisation: splitting text (as code points) into the pieces that BPE then encodes one
/// by one, selected by `tokenizer.ggml.pre` exactly as llama.cpp does.
///
/// A pre-tokeniser is a list of passes; each pass splits every piece the previous pass produced
/// (a piece never crosses an earlier boundary), and text between matches is kept as a piece of
/// its own. Every pass is a hand-written scanner reproducing one of llama.cpp's regexes: its own
/// custom splitters for the GPT-2 and Llama 3 patterns, and ECMAScript (std::regex) semantics for
/// the others. Classes come from `CodepointFlags` (Unicode general categories and White_Space).
public struct PreTokenizer: Sendable {
    /// One regex of llama.cpp's lists, as a scanner.
    public enum Pass: Sendable, Equatable {
        /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`
        case gpt2
        /// `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,n}|
        ///  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+` (Llama 3: n = 3; Qwen2: n = 1)
        case llama3(maxDigits: Int)
        /// `\p{N}`: every number character alone.
        case eachNumber
        /// `\p{N}+`
        case numberRuns
        /// `[0-9][0-9][0-9]`
        case asciiDigitTriples
        /// `[\p{P}\$\+<=>\^~\|]+` (with the backtick too for Falcon)
        case punctuationRuns(backtick: Bool)
        /// `[\r\n]`
        case lineBreaks
        /// `\s?[<ranges>]+` over code-point ranges (DeepSeek's Latin-like letters and punctuation).
        case optionalSpaceThenRuns(ClassRanges)
        /// `\s+$`
        case trailingWhitespace
        /// `[<ranges>]+`
        case runs(ClassRanges)
    }

    public let passes: [Pass]

    public init(passes: [Pass]) { self.passes = passes }

    /// Splits `cps[range]` and calls `body` with each piece, in order.
    public func split(_ cps: UnsafeBufferPointer<UInt32>, _ range: Range<Int>, _ body: (Range<Int>) -> Void) {
        guard !range.isEmpty else { return }
        run(0, cps, range.lowerBound, range.upperBound, body)
    }

    /// Convenience: the pieces of `text` as strings (tests, debugging).
    public func pieces(_ text: String) -> [String] {
        let cps = text.unicodeScalars.map(\.value)
        var out: [String] = []
        cps.withUnsafeBufferPointer { buf in
            split(buf, 0..<buf.count) { r in
                out.append(String(String.UnicodeScalarView(r.compactMap { Unicode.Scalar(buf[$0]) })))
            }
        }
        return out
    }

    private func run(
        _ pass: Int, _ cps: UnsafeBufferPointer<UInt32>, _ lo: Int, _ hi: Int,
        _ body: (Range<Int>) -> Void
    ) {
        if pass == passes.count {
            body(lo..<hi)
            return
        }
        func next(_ a: Int, _ b: Int) { run(pass + 1, cps, a, b, body) }
        switch passes[pass] {
        case .gpt2: Scanners.gpt2(cps, lo, hi, next)
        case let .llama3(maxDigits): Scanners.llama3(cps, lo, hi, maxDigits: maxDigits, next)
        case .eachNumber:
            Scanners.matches(lo, hi, next) { p in CodepointFlags.of(cps[p]).contains(.number) ? p + 1 : -1 }
        case .numberRuns:
            Scanners.matches(lo, hi, next) { p in
                var e = p
                while e < hi && CodepointFlags.of(cps[e]).contains(.number) { e += 1 }
                return e > p ? e : -1
            }
        case .asciiDigitTriples:
            Scanners.matches(lo, hi, next) { p in
                guard p + 3 <= hi else { return -1 }
                for k in p..<p + 3 where !(0x30...0x39).contains(cps[k]) { return -1 }
                return p + 3
            }
        case let .punctuationRuns(backtick):
            Scanners.matches(lo, hi, next) { p in
                var e = p
                while e < hi && Scanners.isPunctuationRunMember(cps[e], backtick: backtick) { e += 1 }
                return e > p ? e : -1
            }
        case .lineBreaks:
            Scanners.matches(lo, hi, next) { p in cps[p] == 0x0A || cps[p] == 0x0D ? p + 1 : -1 }
        case let .optionalSpaceThenRuns(ranges):
            Scanners.matches(lo, hi, next) { p in
                var s = p
                if Scanners.isSpace(cps[p]) && p + 1 < hi && ranges.containsNonSpace(cps[p + 1]) { s = p + 1 }
                var e = s
                while e < hi && ranges.containsNonSpace(cps[e]) { e += 1 }
                return e > s ? e : -1
            }
        case .trailingWhitespace:
            var k = hi
            while k > lo && Scanners.isSpace(cps[k - 1]) { k -= 1 }
            if k > lo { next(lo, k) }
            if k < hi { next(k, hi) }
        case let .runs(ranges):
            Scanners.matches(lo, hi, next) { p in
                var e = p
                while e < hi && ranges.containsNonSpace(cps[e]) { e += 1 }
                return e > p ? e : -1
            }
        }
    }
}

/// A set of code points given as inclusive ranges (a regex character class without classes).
public struct ClassRanges: Sendable, Equatable {
    public let ranges: [ClosedRange<UInt32>]

    /// Parses a class body such as `A-Za-zµÀ-Ö` (characters and `a-b` ranges, no escapes).
    public init(_ body: String) {
        let s = body.unicodeScalars.map(\.value)
        var out: [ClosedRange<UInt32>] = []
        var i = 0
        while i < s.count {
            if i + 2 < s.count && s[i + 1] == 0x2D {  // a-b
                precondition(s[i] <= s[i + 2], "inverted range in a character class")
                out.append(s[i]...s[i + 2])
                i += 3
            } else {
                out.append(s[i]...s[i])
                i += 1
            }
        }
        ranges = out
    }

    public func contains(_ cp: UInt32) -> Bool { ranges.contains { $0.contains(cp) } }

    /// Membership as std::wregex sees llama.cpp's text: non-ASCII whitespace was replaced by
    /// U+000B before matching, so whitespace is never in a class made of other characters.
    func containsNonSpace(_ cp: UInt32) -> Bool { !Scanners.isSpace(cp) && contains(cp) }
}
