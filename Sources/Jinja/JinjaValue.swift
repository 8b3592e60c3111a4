import Foundation

/// An error from parsing or rendering a chat template. Unsupported Jinja constructs are named, so
/// that a template this engine cannot render exactly fails instead of giving a wrong prompt.
public enum ChatTemplateError: Error, Equatable, CustomStringConvertible {
    /// The template is not valid Jinja (line number in the template).
    case syntax(String, line: Int)
    /// Valid Jinja that this engine does not implement.
    case unsupported(String, line: Int)
    /// The template called `raise_exception(message)`.
    case raised(String)
    /// A runtime error (undefined value, wrong operand types), as jinja2 would raise.
    case runtime(String, line: Int)
    /// Messages or tools given as JSON that is not valid JSON.
    case invalidJSON(String)

    public var description: String {
        switch self {
        case .syntax(let m, let l): return "chat template syntax error (line \(l)): \(m)"
        case .unsupported(let m, let l): return "chat template uses an unsupported construct (line \(l)): \(m)"
        case .raised(let m): return "chat template raised an exception: \(m)"
        case .runtime(let m, let l): return "chat template error (line \(l)): \(m)"
        case .invalidJSON(let m): return "invalid JSON: \(m)"
        }
    }
}

/// A Jinja `namespace()` object: the one mutable value (attributes set from inner scopes).
final class JinjaNamespace {
    var attributes: JinjaObject
    init(_ attributes: JinjaObject) { self.attributes = attributes }
}

/// An insertion-ordered string-keyed dictionary (Python dicts keep insertion order, which
/// `tojson` and `items()` expose).
public struct JinjaObject: Equatable {
    public private(set) var keys: [String] = []
    private var values: [String: JinjaValue] = [:]

    public init() {}
    public init(_ pairs: [(String, JinjaValue)]) {
        for (k, v) in pairs { self[k] = v }
    }

    public subscript(key: String) -> JinjaValue? {
        get { values[key] }
        set {
            if let newValue {
                if values.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if values.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    public var count: Int { keys.count }
    public var pairs: [(String, JinjaValue)] { keys.map { ($0, values[$0]!) } }

    /// Python dict equality: same keys and values, in any order.
    public static func == (a: JinjaObject, b: JinjaObject) -> Bool {
        a.count == b.count && a.keys.allSatisfy { k in b.values[k].map { $0 == a.values[k]! } ?? false }
    }
}

/// The loop variable of a `for` block.
struct JinjaLoop {
    var index0: Int
    var length: Int
    var previous: JinjaValue?
    var next: JinjaValue?
}

/// A template value: Python's types as jinja2 sees them, plus Undefined.
public indirect enum JinjaValue: Equatable {
    /// A missing variable, attribute or item (jinja2's default Undefined); the name is for errors.
    case undefined(String)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JinjaValue])
    case object(JinjaObject)
    case namespace(JinjaNamespaceRef)
    case loop(JinjaLoopRef)
    /// A built-in function or bound method, by name (called by the evaluator).
    case function(String, JinjaBoundSelf)

    public static func == (a: JinjaValue, b: JinjaValue) -> Bool {
        switch (a, b) {
        case (.undefined, .undefined), (.none, .none): return true
        // Python compares code points; Swift's String == is canonical equivalence ("é" == "e\u{301}").
        case (.string(let x), .string(let y)): return x.unicodeScalars.elementsEqual(y.unicodeScalars)
        case (.array(let x), .array(let y)): return x == y
        case (.object(let x), .object(let y)): return x == y
        case (.namespace(let x), .namespace(let y)): return x.ns === y.ns
        case (.loop, .loop), (.function, .function): return false
        default:
            if let x = a.number, let y = b.number { return x == y }
            return false
        }
    }

    /// The numeric value of bools, ints and doubles (Python: True == 1).
    var number: Double? {
        switch self {
        case .bool(let b): return b ? 1 : 0
        case .int(let i): return Double(i)
        case .double(let d): return d
        default: return nil
        }
    }

    /// Python truthiness.
    var truthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .array(let a): return !a.isEmpty
        case .object(let o): return o.count > 0
        case .namespace, .loop, .function: return true
        }
    }

    /// Python's `needle in haystack` for strings (code points).
    static func contains(_ haystack: String, _ needle: String) -> Bool {
        let h = Array(haystack.unicodeScalars), n = Array(needle.unicodeScalars)
        if n.isEmpty { return true }
        if n.count > h.count { return false }
        for i in 0...(h.count - n.count) where h[i] == n[0] && Array(h[i..<i + n.count]) == n { return true }
        return false
    }

    var isUndefined: Bool { if case .undefined = self { return true } else { return false } }

    var typeName: String {
        switch self {
        case .undefined: return "undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .array: return "list"
        case .object: return "dict"
        case .namespace: return "Namespace"
        case .loop: return "LoopContext"
        case .function: return "function"
        }
    }
}

/// Reference wrappers so that JinjaValue stays a plain enum.
public struct JinjaNamespaceRef { let ns: JinjaNamespace }
public struct JinjaLoopRef { let loop: JinjaLoop }
/// The receiver of a bound method (`"a b".split`), or nothing for a global function.
public struct JinjaBoundSelf { let value: JinjaValue? }

// MARK: - JSON in (order kept) and out (Python's json.dumps)

extension JinjaValue {
    /// Parses JSON text, keeping object key order (JSONSerialization does not).
    public static func parseJSON(_ text: String) throws -> JinjaValue {
        var p = JSONReader(Array(text.utf8))
        p.skipSpace()
        let v = try p.value()
        p.skipSpace()
        guard p.i == p.b.count else { throw p.fail("trailing characters") }
        return v
    }

    /// Python's `json.dumps(x, ensure_ascii=False, indent=indent, separators=..., sort_keys=...)`,
    /// which Hugging Face's `tojson` filter calls.
    func json(
        indent: Int?, itemSeparator: String? = nil, keySeparator: String? = nil,
        sortKeys: Bool = false, line: Int
    ) throws -> String {
        let itemSep = itemSeparator ?? (indent == nil ? ", " : ",")
        let keySep = keySeparator ?? ": "
        var out = ""
        func emit(_ v: JinjaValue, _ depth: Int) throws {
            switch v {
            case .none: out += "null"
            case .bool(let b): out += b ? "true" : "false"
            case .int(let i): out += String(i)
            case .double(let d):
                guard d.isFinite else {
                    out += d.isNaN ? "NaN" : (d < 0 ? "-Infinity" : "Infinity")
                    return
                }
                out += JinjaValue.pythonFloat(d)
            case .string(let s): out += JinjaValue.jsonQuote(s)
            case .array(let a):
                if a.isEmpty {
                    out += "[]"
                    return
                }
                out += "["
                for (n, x) in a.enumerated() {
                    if n > 0 { out += itemSep }
                    if let indent { out += "\n" + String(repeating: " ", count: indent * (depth + 1)) }
                    try emit(x, depth + 1)
                }
                if let indent { out += "\n" + String(repeating: " ", count: indent * depth) }
                out += "]"
            case .object(let o):
                if o.count == 0 {
                    out += "{}"
                    return
                }
                out += "{"
                // Python sorts str by code point (Swift's String order is canonical-equivalence based).
                let keys = sortKeys ? o.keys.sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) } : o.keys
                for (n, k) in keys.enumerated() {
                    if n > 0 { out += itemSep }
                    if let indent { out += "\n" + String(repeating: " ", count: indent * (depth + 1)) }
                    out += JinjaValue.jsonQuote(k) + keySep
                    try emit(o[k]!, depth + 1)
                }
                if let indent { out += "\n" + String(repeating: " ", count: indent * depth) }
                out += "}"
            case .namespace(let ns): try emit(.object(ns.ns.attributes), depth)
            case .undefined(let name):
                throw ChatTemplateError.runtime("tojson of undefined value '\(name)'", line: line)
            case .loop, .function:
                throw ChatTemplateError.runtime("tojson: object of type \(v.typeName) is not JSON serializable", line: line)
            }
        }
        try emit(self, 0)
        return out
    }

    static func jsonQuote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if u.value < 0x20 {
                    out +=
                        "\\u" + String(repeating: "0", count: 4 - String(u.value, radix: 16).count)
                        + String(u.value, radix: 16)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    /// Python's repr of a float (shortest round trip, "1.0" not "1", exponent from 1e16).
    static func pythonFloat(_ d: Double) -> String {
        if d == d.rounded(), abs(d) < 1e16 {
            return String(format: "%.1f", d)
        }
        var s = "\(d)"  // Swift prints the shortest round-trip digits too
        if let e = s.firstIndex(of: "e") {
            let mantissa = s[..<e]
            var exp = String(s[s.index(after: e)...])
            var sign = "+"
            if exp.hasPrefix("-") {
                sign = "-"
                exp.removeFirst()
            } else if exp.hasPrefix("+") {
                exp.removeFirst()
            }
            if exp.count < 2 { exp = "0" + exp }
            s = mantissa + "e" + sign + exp
        }
        return s
    }
}

private struct JSONReader {
    let b: [UInt8]
    var i = 0
    init(_ b: [UInt8]) { self.b = b }

    func fail(_ m: String) -> ChatTemplateError { .invalidJSON("\(m) at byte \(i)") }

    mutating func skipSpace() {
        while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
    }

    mutating func literal(_ word: String, _ v: JinjaValue) throws -> JinjaValue {
        let w = Array(word.utf8)
        guard i + w.count <= b.count, Array(b[i..<i + w.count]) == w else { throw fail("unexpected token") }
        i += w.count
        return v
    }

    var depth = 0

    mutating func value() throws -> JinjaValue {
        guard i < b.count else { throw fail("unexpected end") }
        depth += 1
        defer { depth -= 1 }
        if depth > 512 { throw fail("nesting deeper than 512") }
        switch b[i] {
        case UInt8(ascii: "{"):
            i += 1
            var o = JinjaObject()
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "}") {
                i += 1
                return .object(o)
            }
            while true {
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a key") }
                let k = try string()
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                i += 1
                skipSpace()
                o[k] = try value()
                skipSpace()
                guard i < b.count else { throw fail("unexpected end") }
                if b[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                if b[i] == UInt8(ascii: "}") {
                    i += 1
                    return .object(o)
                }
                throw fail("expected ',' or '}'")
            }
        case UInt8(ascii: "["):
            i += 1
            var a: [JinjaValue] = []
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "]") {
                i += 1
                return .array(a)
            }
            while true {
                skipSpace()
                a.append(try value())
                skipSpace()
                guard i < b.count else { throw fail("unexpected end") }
                if b[i] == UInt8(ascii: ",") {
                    i += 1
                    continue
                }
                if b[i] == UInt8(ascii: "]") {
                    i += 1
                    return .array(a)
                }
                throw fail("expected ',' or ']'")
            }
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .none)
        default: return try number()
        }
    }

    mutating func number() throws -> JinjaValue {
        let start = i
        var isFloat = false
        if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
        while i < b.count {
            let c = b[i]
            if c >= 0x30 && c <= 0x39 {
                i += 1
            } else if c == UInt8(ascii: ".") || c == UInt8(ascii: "e")
                || c == UInt8(ascii: "E") || c == UInt8(ascii: "+") || c == UInt8(ascii: "-")
            {
                isFloat = true
                i += 1
            } else {
                break
            }
        }
        let text = String(decoding: b[start..<i], as: UTF8.self)
        if !isFloat, let v = Int(text) { return .int(v) }
        if let d = Double(text), !text.isEmpty { return .double(d) }
        throw fail("bad number '\(text)'")
    }

    mutating func hex4() throws -> UInt32 {
        guard i + 4 <= b.count, let v = UInt32(String(decoding: b[i..<i + 4], as: UTF8.self), radix: 16) else {
            throw fail("bad \\u escape")
        }
        i += 4
        return v
    }

    mutating func string() throws -> String {
        i += 1  // opening quote
        var bytes: [UInt8] = []
        while true {
            guard i < b.count else { throw fail("unterminated string") }
            let c = b[i]
            i += 1
            if c == UInt8(ascii: "\"") { break }
            if c != UInt8(ascii: "\\") {
                bytes.append(c)
                continue
            }
            guard i < b.count else { throw fail("unterminated escape") }
            let e = b[i]
            i += 1
            switch e {
            case UInt8(ascii: "n"): bytes.append(0x0A)
            case UInt8(ascii: "t"): bytes.append(0x09)
            case UInt8(ascii: "r"): bytes.append(0x0D)
            case UInt8(ascii: "b"): bytes.append(0x08)
            case UInt8(ascii: "f"): bytes.append(0x0C)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if scalar >= 0xD800 && scalar < 0xDC00, i + 1 < b.count, b[i] == UInt8(ascii: "\\"),
                    b[i + 1] == UInt8(ascii: "u")
                {
                    i += 2
                    let low = try hex4()
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                }
                bytes.append(contentsOf: Array(String(Unicode.Scalar(scalar).map(Character.init) ?? "\u{FFFD}").utf8))
            default: bytes.append(e)  // \" \\ \/
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
