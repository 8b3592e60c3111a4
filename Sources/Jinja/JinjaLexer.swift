import Foundation

/// A token inside `{{ }}` or `{% %}`.
enum JinjaToken: Equatable {
    case name(String)
    case string(String)
    case int(Int)
    case double(Double)
    /// Operators and punctuation: + - * / // % ** ~ == != < > <= >= ( ) [ ] { } , . : | =
    case op(String)
}

/// A piece of the template after whitespace control.
enum JinjaSegment {
    case text(String)
    case output([JinjaToken], line: Int)
    case statement([JinjaToken], line: Int)
}

/// Splits a template into text, `{{ }}` and `{% %}` segments (comments dropped) and applies
/// jinja2's whitespace rules as Hugging Face configures them: `trim_blocks` (one newline after a
/// block or comment tag is removed), `lstrip_blocks` (spaces and tabs between a line start and a
/// block or comment tag are removed), and the `-` / `+` modifiers on tags.
struct JinjaLexer {
    let s: [Unicode.Scalar]
    var i = 0
    var line = 1

    /// jinja2 reads the source with newlines normalised to "\n" and, without
    /// `keep_trailing_newline`, one final newline dropped.
    init(_ source: String) {
        var u: [Unicode.Scalar] = []
        u.reserveCapacity(source.unicodeScalars.count)
        var it = source.unicodeScalars.makeIterator()
        var pending = it.next()
        while let c = pending {
            pending = it.next()
            if c == "\r" {
                u.append("\n")
                if pending == "\n" { pending = it.next() }
            } else {
                u.append(c)
            }
        }
        if u.last == "\n" { u.removeLast() }
        s = u
    }

    private enum Raw {
        case text(start: Int, end: Int)
        /// kind: "{{", "{%" or "{#"; left/right modifiers "-", "+" or "".
        case tag(kind: String, left: String, right: String, tokens: [JinjaToken], line: Int)
    }

    static func segments(_ source: String) throws -> [JinjaSegment] {
        var lx = JinjaLexer(source)
        return try lx.run()
    }

    private func at(_ k: Int, _ c: Unicode.Scalar) -> Bool { k < s.count && s[k] == c }

    private func isTagStart(_ k: Int) -> Bool {
        at(k, "{") && (at(k + 1, "{") || at(k + 1, "%") || at(k + 1, "#"))
    }

    private mutating func run() throws -> [JinjaSegment] {
        var raws: [Raw] = []
        while i < s.count {
            let start = i
            while i < s.count, !isTagStart(i) {
                if s[i] == "\n" { line += 1 }
                i += 1
            }
            if i > start { raws.append(.text(start: start, end: i)) }
            if i >= s.count { break }
            let kind = String(s[i]) + String(s[i + 1])
            let tagLine = line
            i += 2
            var left = ""
            if at(i, "-") || at(i, "+") {
                left = String(s[i])
                i += 1
            }
            if kind == "{#" {
                var right = ""
                while true {
                    guard i + 1 < s.count else { throw ChatTemplateError.syntax("unterminated comment", line: tagLine) }
                    if s[i] == "#", s[i + 1] == "}" {
                        i += 2
                        break
                    }
                    if (s[i] == "-" || s[i] == "+"), s[i + 1] == "#", at(i + 2, "}") {
                        right = String(s[i])
                        i += 3
                        break
                    }
                    if s[i] == "\n" { line += 1 }
                    i += 1
                }
                raws.append(.tag(kind: kind, left: left, right: right, tokens: [], line: tagLine))
                continue
            }
            let close: Unicode.Scalar = kind == "{{" ? "}" : "%"
            let (tokens, right) = try tokenize(close: close, tagLine: tagLine)
            if kind == "{%", tokens.first == .name("raw") {
                throw ChatTemplateError.unsupported("{% raw %} blocks", line: tagLine)
            }
            raws.append(.tag(kind: kind, left: left, right: right, tokens: tokens, line: tagLine))
        }
        return whitespaceControl(raws)
    }

    /// Applies the whitespace rules to the raw pieces and drops comments.
    private func whitespaceControl(_ raws: [Raw]) -> [JinjaSegment] {
        // Text pieces as mutable strings of scalars, with their source start (for line starts).
        var texts: [Int: [Unicode.Scalar]] = [:]
        for (n, r) in raws.enumerated() { if case .text(let a, let b) = r { texts[n] = Array(s[a..<b]) } }
        for (n, r) in raws.enumerated() {
            guard case .tag(let kind, let left, let right, _, _) = r else { continue }
            let isBlock = kind != "{{"
            // Text before the tag.
            if n > 0, case .text(let start, let end) = raws[n - 1], var t = texts[n - 1] {
                if left == "-" {
                    while let last = t.last, last.properties.isWhitespace { t.removeLast() }
                } else if isBlock && left != "+" {
                    // lstrip_blocks: only blanks between the line start and the tag.
                    var k = t.count
                    while k > 0, t[k - 1] == " " || t[k - 1] == "\t" { k -= 1 }
                    // Where jinja2's text token starts: after what the previous tag trimmed.
                    let tokenStart = start + (end - start - t.count)
                    let lineStart = k > 0 ? t[k - 1] == "\n" : (tokenStart == 0 || s[tokenStart - 1] == "\n")
                    if lineStart { t.removeSubrange(k...) }
                }
                texts[n - 1] = t
            }
            // Text after the tag.
            if n + 1 < raws.count, case .text = raws[n + 1], var t = texts[n + 1] {
                if right == "-" {
                    while let first = t.first, first.properties.isWhitespace { t.removeFirst() }
                } else if isBlock && right != "+" {
                    // trim_blocks: the first newline after a block tag.
                    if t.first == "\n" {
                        t.removeFirst()
                    } else if t.count >= 2, t[0] == "\r", t[1] == "\n" {
                        t.removeFirst(2)
                    }
                }
                texts[n + 1] = t
            }
        }
        var out: [JinjaSegment] = []
        for (n, r) in raws.enumerated() {
            switch r {
            case .text:
                var str = ""
                str.unicodeScalars.append(contentsOf: texts[n]!)
                if !str.isEmpty { out.append(.text(str)) }
            case .tag(let kind, _, _, let tokens, let line):
                if kind == "{{" { out.append(.output(tokens, line: line)) }
                if kind == "{%" { out.append(.statement(tokens, line: line)) }
            }
        }
        return out
    }

    // MARK: Tokens

    private mutating func tokenize(close: Unicode.Scalar, tagLine: Int) throws -> ([JinjaToken], String) {
        var tokens: [JinjaToken] = []
        var depth = 0  // inside (), [], {}: a '}' there is not the end of the tag
        while true {
            while i < s.count, s[i].properties.isWhitespace {
                if s[i] == "\n" { line += 1 }
                i += 1
            }
            guard i < s.count else { throw ChatTemplateError.syntax("unterminated tag", line: tagLine) }
            let c = s[i]
            // End of tag, with an optional - or + modifier.
            if depth == 0 {
                if c == close, at(i + 1, "}") {
                    i += 2
                    return (tokens, "")
                }
                if (c == "-" || c == "+"), at(i + 1, close), at(i + 2, "}") {
                    let m = String(c)
                    i += 3
                    return (tokens, m)
                }
            }
            if c == "'" || c == "\"" {
                tokens.append(.string(try stringLiteral(quote: c)))
            } else if c.properties.isAlphabetic || c == "_" {
                let a = i
                while i < s.count, s[i].properties.isAlphabetic || s[i] == "_" || ("0"..."9").contains(s[i]) { i += 1 }
                var name = ""
                name.unicodeScalars.append(contentsOf: s[a..<i])
                tokens.append(.name(name))
            } else if ("0"..."9").contains(c) {
                let a = i
                var isFloat = false
                while i < s.count, ("0"..."9").contains(s[i]) || s[i] == "_" { i += 1 }
                if at(i, "."), i + 1 < s.count, ("0"..."9").contains(s[i + 1]) {
                    isFloat = true
                    i += 1
                    while i < s.count, ("0"..."9").contains(s[i]) || s[i] == "_" { i += 1 }
                }
                if at(i, "e") || at(i, "E") {
                    isFloat = true
                    i += 1
                    if at(i, "+") || at(i, "-") { i += 1 }
                    while i < s.count, ("0"..."9").contains(s[i]) { i += 1 }
                }
                var text = ""
                text.unicodeScalars.append(contentsOf: s[a..<i])
                text = text.replacingOccurrences(of: "_", with: "")
                if isFloat {
                    guard let d = Double(text) else { throw ChatTemplateError.syntax("bad number \(text)", line: line) }
                    tokens.append(.double(d))
                } else {
                    guard let v = Int(text) else { throw ChatTemplateError.syntax("bad number \(text)", line: line) }
                    tokens.append(.int(v))
                }
            } else {
                let three = i + 2 < s.count ? String(s[i]) + String(s[i + 1]) + String(s[i + 2]) : ""
                let two = i + 1 < s.count ? String(s[i]) + String(s[i + 1]) : ""
                if three == "..." { throw ChatTemplateError.unsupported("'...'", line: line) }
                if ["//", "**", "==", "!=", "<=", ">="].contains(two) {
                    tokens.append(.op(two))
                    i += 2
                } else if "+-*/%~<>()[]{},.:|=".unicodeScalars.contains(c) {
                    if c == "(" || c == "[" || c == "{" { depth += 1 }
                    if c == ")" || c == "]" || c == "}" { depth -= 1 }
                    tokens.append(.op(String(c)))
                    i += 1
                } else {
                    throw ChatTemplateError.syntax("unexpected character '\(c)'", line: line)
                }
            }
        }
    }

    /// A Python string literal (jinja2 unescapes with Python's rules).
    private mutating func stringLiteral(quote: Unicode.Scalar) throws -> String {
        let startLine = line
        i += 1
        var out = String.UnicodeScalarView()
        while true {
            guard i < s.count else { throw ChatTemplateError.syntax("unterminated string", line: startLine) }
            let c = s[i]
            i += 1
            if c == quote { break }
            if c == "\n" { line += 1 }
            if c != "\\" {
                out.append(c)
                continue
            }
            guard i < s.count else { throw ChatTemplateError.syntax("unterminated string", line: startLine) }
            let e = s[i]
            i += 1
            switch e {
            case "n": out.append("\n")
            case "t": out.append("\t")
            case "r": out.append("\r")
            case "\\": out.append("\\")
            case "'": out.append("'")
            case "\"": out.append("\"")
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "v": out.append("\u{0B}")
            case "0"..."7":
                var v = e.value - 0x30
                var n = 1
                while n < 3, i < s.count, ("0"..."7").contains(s[i]) {
                    v = v * 8 + s[i].value - 0x30
                    i += 1
                    n += 1
                }
                out.append(Unicode.Scalar(v)!)
            case "N": throw ChatTemplateError.unsupported("\\N{...} escapes", line: line)
            case "\n": line += 1  // line continuation
            case "u", "x", "U":
                let n = e == "x" ? 2 : (e == "u" ? 4 : 8)
                guard i + n <= s.count else { throw ChatTemplateError.syntax("bad escape", line: line) }
                var hex = ""
                hex.unicodeScalars.append(contentsOf: s[i..<i + n])
                guard let v = UInt32(hex, radix: 16), let u = Unicode.Scalar(v) else {
                    throw ChatTemplateError.syntax("bad escape \\\(e)\(hex)", line: line)
                }
                out.append(u)
                i += n
            default:
                // Python keeps unknown escapes as written (backslash included).
                out.append("\\")
                out.append(e)
            }
        }
        return String(out)
    }
}
