/// The scanners behind `PreTokenizer.Pass`: llama.cpp's custom GPT-2 and Llama 3 splitters,
/// position by position, and a driver for single-regex passes with std::regex_iterator semantics.
enum Scanners {
    @inline(__always) static func flags(_ cp: UInt32) -> CodepointFlags { CodepointFlags.of(cp) }
    @inline(__always) static func isSpace(_ cp: UInt32) -> Bool { flags(cp).contains(.whitespace) }

    /// `[\p{P}\$\+<=>\^~\|]` (and the backtick for Falcon).
    static func isPunctuationRunMember(_ cp: UInt32, backtick: Bool) -> Bool {
        switch cp {
        case 0x24, 0x2B, 0x3C, 0x3D, 0x3E, 0x5E, 0x7E, 0x7C: return true
        case 0x60: return backtick
        default: return flags(cp).contains(.punctuation)
        }
    }

    /// Leftmost-match iteration over [lo, hi): `matchAt(p)` returns the end of a match starting at
    /// p, or -1. Matches and the text between them are emitted in order.
    @inline(__always)
    static func matches(_ lo: Int, _ hi: Int, _ emit: (Int, Int) -> Void, _ matchAt: (Int) -> Int) {
        var p = lo
        var gap = lo
        while p < hi {
            let e = matchAt(p)
            if e > p {
                if gap < p { emit(gap, p) }
                emit(p, e)
                p = e
                gap = e
            } else {
                p += 1
            }
        }
        if gap < hi { emit(gap, hi) }
    }

    /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`, with a
    /// final `\s+` (llama.cpp's custom splitter). Positions past `hi` have no class at all.
    static func gpt2(_ cps: UnsafeBufferPointer<UInt32>, _ lo: Int, _ hi: Int, _ emit: (Int, Int) -> Void) {
        @inline(__always) func fl(_ i: Int) -> CodepointFlags { i < hi ? flags(cps[i]) : [] }
        @inline(__always) func inRange(_ i: Int) -> Bool { i < hi }
        @inline(__always) func isOther(_ f: CodepointFlags, _ i: Int) -> Bool {
            i < hi && f.isDisjoint(with: [.whitespace, .letter, .number])
        }
        var start = lo
        var pos = lo
        while pos < hi {
            let c = cps[pos]
            // 's 't 're 've 'm 'll 'd
            if c == 0x27 && pos + 1 < hi {
                let n1 = cps[pos + 1]
                if n1 == 0x73 || n1 == 0x74 || n1 == 0x6D || n1 == 0x64 {
                    pos += 2
                    emit(start, pos)
                    start = pos
                    continue
                }
                if pos + 2 < hi {
                    let n2 = cps[pos + 2]
                    if (n1 == 0x72 && n2 == 0x65) || (n1 == 0x76 && n2 == 0x65) || (n1 == 0x6C && n2 == 0x6C) {
                        pos += 3
                        emit(start, pos)
                        start = pos
                        continue
                    }
                }
            }
            let space = c == 0x20
            let at = space ? pos + 1 : pos
            let f2 = fl(at)
            if f2.contains(.letter) {
                var e = at + 1
                while e < hi && flags(cps[e]).contains(.letter) { e += 1 }
                pos = e
                emit(start, pos)
                start = pos
                continue
            }
            if f2.contains(.number) {
                var e = at + 1
                while e < hi && flags(cps[e]).contains(.number) { e += 1 }
                pos = e
                emit(start, pos)
                start = pos
                continue
            }
            if isOther(f2, at) {
                var e = at + 1
                while isOther(fl(e), e) { e += 1 }
                pos = e
                emit(start, pos)
                start = pos
                continue
            }
            var n = 0
            while fl(pos + n).contains(.whitespace) { n += 1 }
            if n > 1 && inRange(pos + n) {
                pos += n - 1
                emit(start, pos)
                start = pos
                continue
            }
            if n > 0 {
                pos += n
                emit(start, pos)
                start = pos
                continue
            }
            pos += 1
            emit(start, pos)
            start = pos
        }
    }

    /// Llama 3 (maxDigits 3) and Qwen2 (maxDigits 1): `(?i:'s|'t|'re|'ve|'m|'ll|'d)|
    /// [^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,n}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`.
    static func llama3(
        _ cps: UnsafeBufferPointer<UInt32>, _ lo: Int, _ hi: Int, maxDigits: Int,
        _ emit: (Int, Int) -> Void
    ) {
        @inline(__always) func fl(_ i: Int) -> CodepointFlags { i < hi ? flags(cps[i]) : [] }
        @inline(__always) func lower(_ c: UInt32) -> UInt32 { (0x41...0x5A).contains(c) ? c + 0x20 : c }
        @inline(__always) func isCRLF(_ c: UInt32) -> Bool { c == 0x0D || c == 0x0A }
        var start = lo
        var pos = lo
        while pos < hi {
            let c = cps[pos]
            let f = flags(c)
            if c == 0x27 && pos + 1 < hi {
                let n1 = lower(cps[pos + 1])
                if n1 == 0x73 || n1 == 0x74 || n1 == 0x6D || n1 == 0x64 {
                    pos += 2
                    emit(start, pos)
                    start = pos
                    continue
                }
                if pos + 2 < hi {
                    let n2 = lower(cps[pos + 2])
                    if (n1 == 0x72 && n2 == 0x65) || (n1 == 0x76 && n2 == 0x65) || (n1 == 0x6C && n2 == 0x6C) {
                        pos += 3
                        emit(start, pos)
                        start = pos
                        continue
                    }
                }
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if !(isCRLF(c) || f.contains(.number)) {
                if f.contains(.letter) || fl(pos + 1).contains(.letter) {
                    var e = pos + 1
                    while e < hi && flags(cps[e]).contains(.letter) { e += 1 }
                    pos = e
                    emit(start, pos)
                    start = pos
                    continue
                }
            }
            // \p{N}{1,n}
            if f.contains(.number) {
                var k = 0
                while pos < hi && flags(cps[pos]).contains(.number) {
                    pos += 1
                    k += 1
                    if k == maxDigits {
                        emit(start, pos)
                        start = pos
                        k = 0
                    }
                }
                if start < pos {
                    emit(start, pos)
                    start = pos
                }
                continue
            }
            // ' '?[^\s\p{L}\p{N}]+[\r\n]*
            let at = c == 0x20 ? pos + 1 : pos
            let f2 = fl(at)
            if at < hi && f2.isDisjoint(with: [.whitespace, .letter, .number]) {
                var e = at + 1
                while e < hi && flags(cps[e]).isDisjoint(with: [.whitespace, .letter, .number]) { e += 1 }
                while e < hi && isCRLF(cps[e]) { e += 1 }
                pos = e
                emit(start, pos)
                start = pos
                continue
            }
            var n = 0
            var lastBreakEnd = -1
            while pos + n < hi && flags(cps[pos + n]).contains(.whitespace) {
                if isCRLF(cps[pos + n]) { lastBreakEnd = pos + n + 1 }
                n += 1
            }
            if lastBreakEnd >= 0 {  // \s*[\r\n]+
                pos = lastBreakEnd
                emit(start, pos)
                start = pos
                continue
            }
            if n > 1 && pos + n < hi {  // \s+(?!\S)
                pos += n - 1
                emit(start, pos)
                start = pos
                continue
            }
            if n > 0 {  // \s+
                pos += n
                emit(start, pos)
                start = pos
                continue
            }
            pos += 1
            emit(start, pos)
            start = pos
        }
    }
}
