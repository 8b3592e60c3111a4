import Foundation

/// Filters, tests, global functions and the string / dict methods of the supported subset.
/// Anything else is refused by name.
extension JinjaEvaluator {
    // MARK: Filters

    func applyFilter(
        _ name: String, _ v: JinjaValue, _ args: [JinjaValue], _ kwargs: [(String, JinjaValue)],
        _ line: Int
    ) throws -> JinjaValue {
        func arg(_ n: Int, _ key: String) -> JinjaValue? {
            if n < args.count { return args[n] }
            return kwargs.first { $0.0 == key }?.1
        }
        func noArgs() throws {
            if !args.isEmpty || !kwargs.isEmpty {
                throw ChatTemplateError.unsupported("arguments to the '\(name)' filter", line: line)
            }
        }
        func requireString() throws -> String {
            guard case .string(let s) = v else {
                if case .undefined(let n) = v { throw undefinedError(n, line) }
                throw ChatTemplateError.unsupported("'\(name)' filter on a \(v.typeName)", line: line)
            }
            return s
        }
        switch name {
        case "trim":
            if !args.isEmpty || !kwargs.isEmpty { throw ChatTemplateError.unsupported("trim(chars)", line: line) }
            if case .undefined = v { return .string("") }
            return .string(pythonStrip(try str(v, line), left: true, right: true))
        case "length", "count":
            try noArgs()
            switch v {
            case .string(let s): return .int(s.unicodeScalars.count)
            case .array(let a): return .int(a.count)
            case .object(let o): return .int(o.count)
            case .undefined: return .int(0)
            default: throw ChatTemplateError.runtime("object of type '\(v.typeName)' has no len()", line: line)
            }
        case "tojson":
            for (k, _) in kwargs where !["indent", "ensure_ascii", "separators", "sort_keys"].contains(k) {
                throw ChatTemplateError.unsupported("tojson(\(k)=...)", line: line)
            }
            if args.count > 1 { throw ChatTemplateError.unsupported("positional tojson arguments", line: line) }
            var indent: Int?
            if let i = arg(0, "indent") {
                switch i {
                case .int(let n): indent = n
                case .none: indent = nil
                default: throw ChatTemplateError.unsupported("tojson(indent=\(i.typeName))", line: line)
                }
            }
            if let ea = kwargs.first(where: { $0.0 == "ensure_ascii" })?.1, ea.truthy {
                throw ChatTemplateError.unsupported("tojson(ensure_ascii=True)", line: line)
            }
            var itemSep: String?, keySep: String?
            if let seps = kwargs.first(where: { $0.0 == "separators" })?.1, seps != .none {
                guard case .array(let p) = seps, p.count == 2, case .string(let a) = p[0], case .string(let b) = p[1] else {
                    throw ChatTemplateError.unsupported("tojson(separators=...) other than a list of two strings", line: line)
                }
                itemSep = a
                keySep = b
            }
            let sortKeys = kwargs.first(where: { $0.0 == "sort_keys" })?.1.truthy ?? false
            return .string(
                try v.json(
                    indent: indent, itemSeparator: itemSep, keySeparator: keySep,
                    sortKeys: sortKeys, line: line))
        case "upper":
            try noArgs()
            return .string(try requireString().uppercased())
        case "lower":
            try noArgs()
            return .string(try requireString().lowercased())
        case "capitalize":
            try noArgs()
            let s = try requireString()
            return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
        case "string":
            try noArgs()
            return .string(try str(v, line))
        case "safe":
            try noArgs()
            return v
        case "default", "d":
            let fallback = arg(0, "default_value") ?? .string("")
            let boolean = arg(1, "boolean")?.truthy ?? false
            if v.isUndefined || (boolean && !v.truthy) { return fallback }
            return v
        case "int":
            try noArgs()
            switch v {
            case .int: return v
            case .bool(let b): return .int(b ? 1 : 0)
            case .double(let d):
                guard d.isFinite, abs(d) < 9.2e18 else { throw ChatTemplateError.unsupported("int of \(d)", line: line) }
                return .int(Int(d))
            case .string(let s):
                let t = pythonStrip(s, left: true, right: true)
                if let i = Int(t) { return .int(i) }
                throw ChatTemplateError.unsupported("int filter on a non-integer string", line: line)
            default: return .int(0)
            }
        case "float":
            try noArgs()
            if let d = v.number { return .double(d) }
            if case .string(let s) = v, let d = Double(pythonStrip(s, left: true, right: true)) { return .double(d) }
            return .double(0)
        case "list":
            try noArgs()
            switch v {
            case .array: return v
            case .string(let s): return .array(s.unicodeScalars.map { .string(String($0)) })
            case .object(let o): return .array(o.keys.map { .string($0) })
            default: throw ChatTemplateError.runtime("'\(v.typeName)' object is not iterable", line: line)
            }
        case "first", "last":
            try noArgs()
            switch v {
            case .array(let a): return (name == "first" ? a.first : a.last) ?? .undefined(name)
            case .string(let s):
                let u = s.unicodeScalars
                return (name == "first" ? u.first : u.last).map { .string(String($0)) } ?? .undefined(name)
            default: throw ChatTemplateError.unsupported("'\(name)' filter on a \(v.typeName)", line: line)
            }
        case "join":
            guard case .array(let a) = v else { throw ChatTemplateError.unsupported("join on a \(v.typeName)", line: line) }
            if kwargs.contains(where: { $0.0 == "attribute" }) { throw ChatTemplateError.unsupported("join(attribute=...)", line: line) }
            let sep = try arg(0, "d").map { try str($0, line) } ?? ""
            return .string(try a.map { try str($0, line) }.joined(separator: sep))
        case "replace":
            let s = try requireString()
            guard case .string(let old)? = arg(0, "old"), case .string(let new)? = arg(1, "new") else {
                throw ChatTemplateError.unsupported("replace without two string arguments", line: line)
            }
            if arg(2, "count") != nil { throw ChatTemplateError.unsupported("replace(count)", line: line) }
            return .string(pythonReplace(s, old, new))
        case "items":
            try noArgs()
            guard case .object(let o) = v else { throw ChatTemplateError.unsupported("items on a \(v.typeName)", line: line) }
            return .array(o.pairs.map { .array([.string($0.0), $0.1]) })
        case "reverse":
            try noArgs()
            switch v {
            case .array(let a): return .array(a.reversed())
            case .string(let s):
                var out = String.UnicodeScalarView()
                out.append(contentsOf: s.unicodeScalars.reversed())
                return .string(String(out))
            default: throw ChatTemplateError.unsupported("reverse on a \(v.typeName)", line: line)
            }
        case "abs":
            try noArgs()
            switch v {
            case .int(let i):
                if i == Int.min { throw ChatTemplateError.unsupported("integers beyond 64 bits (Python big ints)", line: line) }
                return .int(abs(i))
            case .double(let d): return .double(abs(d))
            default: throw ChatTemplateError.runtime("bad operand type for abs(): '\(v.typeName)'", line: line)
            }
        default:
            throw ChatTemplateError.unsupported("filter '\(name)'", line: line)
        }
    }

    // MARK: Tests

    func applyTest(_ name: String, _ v: JinjaValue, _ args: [JinjaValue], _ line: Int) throws -> Bool {
        func noArgs() throws {
            if !args.isEmpty { throw ChatTemplateError.unsupported("arguments to the '\(name)' test", line: line) }
        }
        switch name {
        case "defined":
            try noArgs()
            return !v.isUndefined
        case "undefined":
            try noArgs()
            return v.isUndefined
        case "none":
            try noArgs()
            return v == .none && !v.isUndefined
        case "string":
            try noArgs()
            if case .string = v { return true }
            return false
        case "mapping":
            try noArgs()
            if case .object = v { return true }
            return false
        case "iterable":
            try noArgs()
            switch v {
            case .string, .array, .object, .undefined: return true
            default: return false
            }
        case "sequence":
            try noArgs()
            switch v {
            case .string, .array, .object, .undefined: return true
            default: return false
            }
        case "number":
            try noArgs()
            switch v {
            case .int, .double, .bool: return true
            default: return false
            }
        case "integer":
            try noArgs()
            if case .int = v { return true }
            return false
        case "float":
            try noArgs()
            if case .double = v { return true }
            return false
        case "boolean":
            try noArgs()
            if case .bool = v { return true }
            return false
        case "true":
            try noArgs()
            return v == .bool(true)
                && {
                    if case .bool = v { return true }
                    return false
                }()
        case "false":
            try noArgs()
            return v == .bool(false)
                && {
                    if case .bool = v { return true }
                    return false
                }()
        case "callable":
            try noArgs()
            if case .function = v { return true }
            return false
        case "even", "odd":
            try noArgs()
            guard case .int(let i) = v else { throw typeError("'\(name)' test needs an integer", v, line) }
            return (i % 2 == 0) == (name == "even")
        case "divisibleby":
            guard args.count == 1, case .int(let i) = v, case .int(let d) = args[0], d != 0 else {
                throw ChatTemplateError.unsupported("divisibleby on these operands", line: line)
            }
            return i % d == 0
        case "eq", "equalto", "==":
            guard args.count == 1 else { throw ChatTemplateError.syntax("'\(name)' test takes one argument", line: line) }
            return v == args[0]
        case "ne", "!=":
            guard args.count == 1 else { throw ChatTemplateError.syntax("'\(name)' test takes one argument", line: line) }
            return v != args[0]
        case "in":
            guard args.count == 1 else { throw ChatTemplateError.syntax("'in' test takes one argument", line: line) }
            if case .bool(let b) = try callIn(v, args[0], line) { return b }
            return false
        case "lower", "upper":
            try noArgs()
            guard case .string(let s) = v else { throw typeError("'\(name)' test needs a string", v, line) }
            return name == "lower" ? s == s.lowercased() : s == s.uppercased()
        default:
            throw ChatTemplateError.unsupported("test '\(name)'", line: line)
        }
    }

    private func callIn(_ a: JinjaValue, _ b: JinjaValue, _ line: Int) throws -> JinjaValue {
        switch b {
        case .array(let items): return .bool(items.contains(a))
        case .object(let o):
            if case .string(let k) = a { return .bool(o[k] != nil) }
            return .bool(false)
        case .string(let s):
            if case .string(let x) = a { return .bool(JinjaValue.contains(s, x)) }
            return .bool(false)
        default: throw typeError("argument of type '\(b.typeName)' is not iterable", b, line)
        }
    }

    // MARK: Calls

    func call(_ f: JinjaValue, _ args: [JinjaValue], _ kwargs: [(String, JinjaValue)], _ line: Int) throws -> JinjaValue {
        guard case .function(let name, let receiver) = f else {
            if case .undefined(let n) = f { throw ChatTemplateError.runtime("'\(n)' is undefined (called as a function)", line: line) }
            throw ChatTemplateError.runtime("'\(f.typeName)' object is not callable", line: line)
        }
        if let base = receiver.value { return try method(name, base, args, kwargs, line) }
        switch name {
        case "raise_exception":
            let message = try args.first.map { try str($0, line) } ?? ""
            throw ChatTemplateError.raised(message)
        case "namespace":
            if !args.isEmpty { throw ChatTemplateError.unsupported("namespace() with positional arguments", line: line) }
            return .namespace(JinjaNamespaceRef(ns: JinjaNamespace(JinjaObject(kwargs))))
        case "strftime_now":
            guard args.count == 1, kwargs.isEmpty, case .string(let format) = args[0] else {
                throw ChatTemplateError.runtime("strftime_now takes one format string", line: line)
            }
            return .string(try strftime(format, now, line))
        case "range":
            guard kwargs.isEmpty, (1...3).contains(args.count) else {
                throw ChatTemplateError.runtime("range takes 1 to 3 integer arguments", line: line)
            }
            var ints: [Int] = []
            for a in args {
                guard case .int(let i) = a else { throw ChatTemplateError.runtime("range arguments must be integers", line: line) }
                ints.append(i)
            }
            let (start, stop, step) = ints.count == 1 ? (0, ints[0], 1) : (ints[0], ints[1], ints.count == 3 ? ints[2] : 1)
            guard step != 0 else { throw ChatTemplateError.runtime("range() step must not be zero", line: line) }
            guard abs((stop - start) / step) < 1_000_000 else { throw ChatTemplateError.runtime("range too large", line: line) }
            return .array(Swift.stride(from: start, to: stop, by: step).map { .int($0) })
        default:
            throw ChatTemplateError.unsupported("function '\(name)'", line: line)
        }
    }

    private func method(
        _ name: String, _ base: JinjaValue, _ args: [JinjaValue], _ kwargs: [(String, JinjaValue)],
        _ line: Int
    ) throws -> JinjaValue {
        if !kwargs.isEmpty { throw ChatTemplateError.unsupported("keyword arguments to .\(name)()", line: line) }
        func stringArg(_ n: Int) throws -> String? {
            guard n < args.count else { return nil }
            if args[n] == .none { return nil }
            guard case .string(let s) = args[n] else {
                throw ChatTemplateError.unsupported(".\(name)() with a \(args[n].typeName) argument", line: line)
            }
            return s
        }
        switch base {
        case .object(let o):
            switch name {
            case "items": return .array(o.pairs.map { .array([.string($0.0), $0.1]) })
            case "keys": return .array(o.keys.map { .string($0) })
            case "values": return .array(o.pairs.map { $0.1 })
            default:  // get
                guard let key = args.first else { throw ChatTemplateError.runtime("get() needs a key", line: line) }
                guard case .string(let k) = key else { return args.count > 1 ? args[1] : .none }
                return o[k] ?? (args.count > 1 ? args[1] : .none)
            }
        case .string(let s):
            switch name {
            case "strip", "lstrip", "rstrip":
                if let chars = try stringArg(0) {
                    let set = Set(chars.unicodeScalars)
                    var u = Array(s.unicodeScalars)
                    if name != "rstrip" { while let f = u.first, set.contains(f) { u.removeFirst() } }
                    if name != "lstrip" { while let l = u.last, set.contains(l) { u.removeLast() } }
                    var out = ""
                    out.unicodeScalars.append(contentsOf: u)
                    return .string(out)
                }
                return .string(pythonStrip(s, left: name != "rstrip", right: name != "lstrip"))
            case "split":
                if args.count > 1 { throw ChatTemplateError.unsupported("split(sep, maxsplit)", line: line) }
                if let sep = try stringArg(0) {
                    guard !sep.isEmpty else { throw ChatTemplateError.runtime("empty separator", line: line) }
                    return .array(pythonSplit(s, sep).map { .string($0) })
                }
                return .array(
                    s.unicodeScalars.split(whereSeparator: { $0.properties.isWhitespace })
                        .map { .string(String($0)) })
            case "startswith", "endswith":
                guard args.count == 1, let p = try stringArg(0) else {
                    throw ChatTemplateError.unsupported(".\(name)() with other than one string", line: line)
                }
                let a = Array(s.unicodeScalars), b = Array(p.unicodeScalars)
                return .bool(name == "startswith" ? a.starts(with: b) : a.reversed().starts(with: b.reversed()))
            case "upper": return .string(s.uppercased())
            case "lower": return .string(s.lowercased())
            case "title": throw ChatTemplateError.unsupported("str.title()", line: line)
            case "capitalize": return .string(s.prefix(1).uppercased() + s.dropFirst().lowercased())
            default:  // replace
                guard args.count == 2, let old = try stringArg(0), let new = try stringArg(1) else {
                    throw ChatTemplateError.unsupported("replace() with other than two strings", line: line)
                }
                return .string(pythonReplace(s, old, new))
            }
        default:
            throw ChatTemplateError.unsupported("method '\(name)' on a \(base.typeName)", line: line)
        }
    }

    // MARK: Helpers

    /// Python's str.strip() with no argument (Unicode whitespace).
    func pythonStrip(_ s: String, left: Bool, right: Bool) -> String {
        var u = Array(s.unicodeScalars)
        func space(_ c: Unicode.Scalar) -> Bool {
            c.properties.isWhitespace || (0x1C...0x1F).contains(c.value)
        }
        if right { while let l = u.last, space(l) { u.removeLast() } }
        if left { while let f = u.first, space(f) { u.removeFirst() } }
        var out = ""
        out.unicodeScalars.append(contentsOf: u)
        return out
    }

    /// Python's str.split(sep) on code points.
    func pythonSplit(_ s: String, _ sep: String) -> [String] {
        let a = Array(s.unicodeScalars), p = Array(sep.unicodeScalars)
        var parts: [String] = []
        var cur = String.UnicodeScalarView()
        var i = 0
        while i < a.count {
            if i + p.count <= a.count, Array(a[i..<i + p.count]) == p {
                parts.append(String(cur))
                cur = String.UnicodeScalarView()
                i += p.count
            } else {
                cur.append(a[i])
                i += 1
            }
        }
        parts.append(String(cur))
        return parts
    }

    /// Python's str.replace on code points (Swift's would compare grapheme clusters).
    func pythonReplace(_ s: String, _ old: String, _ new: String) -> String {
        let a = Array(s.unicodeScalars), o = Array(old.unicodeScalars)
        var out = String.UnicodeScalarView()
        if o.isEmpty {
            out.append(contentsOf: new.unicodeScalars)
            for c in a {
                out.append(c)
                out.append(contentsOf: new.unicodeScalars)
            }
            return String(out)
        }
        var i = 0
        while i < a.count {
            if i + o.count <= a.count, Array(a[i..<i + o.count]) == o {
                out.append(contentsOf: new.unicodeScalars)
                i += o.count
            } else {
                out.append(a[i])
                i += 1
            }
        }
        return String(out)
    }

    /// The strftime codes chat templates use (local time, C locale names).
    func strftime(_ format: String, _ date: Date, _ line: Int) throws -> String {
        var cal = Calendar(identifier: .gregorian)
        cal.timeZone = TimeZone.current
        let c = cal.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
        let months = [
            "January", "February", "March", "April", "May", "June", "July", "August", "September",
            "October", "November", "December"
        ]
        let days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
        func pad(_ v: Int, _ n: Int = 2) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, n - s.count)) + s
        }
        var out = ""
        var it = format.makeIterator()
        while let ch = it.next() {
            guard ch == "%" else {
                out.append(ch)
                continue
            }
            guard let code = it.next() else {
                out.append("%")
                break
            }
            switch code {
            case "d": out += pad(c.day!)
            case "m": out += pad(c.month!)
            case "Y": out += String(c.year!)
            case "y": out += pad(c.year! % 100)
            case "b": out += String(months[c.month! - 1].prefix(3))
            case "B": out += months[c.month! - 1]
            case "a": out += String(days[c.weekday! - 1].prefix(3))
            case "A": out += days[c.weekday! - 1]
            case "H": out += pad(c.hour!)
            case "I": out += pad((c.hour! + 11) % 12 + 1)
            case "p": out += c.hour! < 12 ? "AM" : "PM"
            case "M": out += pad(c.minute!)
            case "S": out += pad(c.second!)
            case "j": out += pad(cal.ordinality(of: .day, in: .year, for: date)!, 3)
            case "%": out += "%"
            default: throw ChatTemplateError.unsupported("strftime code %\(code)", line: line)
            }
        }
        return out
    }
}
