import Foundation

/// Renders parsed template nodes. Scoping follows jinja2: a `for` body is its own scope (a `set`
/// inside it is not seen after the loop; `namespace()` attributes are), `if` is not.
final class JinjaEvaluator {
    private var scopes: [[String: JinjaValue]]
    private var output = ""
    /// The clock for `strftime_now`.
    let now: Date

    private enum Flow: Error { case breakLoop, continueLoop }

    init(globals: [String: JinjaValue], now: Date) {
        scopes = [globals]
        self.now = now
    }

    func render(_ nodes: [JinjaNode]) throws -> String {
        output = ""
        do {
            try run(nodes)
        } catch Flow.breakLoop {
            throw ChatTemplateError.syntax("{% break %} outside a loop", line: 0)
        } catch Flow.continueLoop {
            throw ChatTemplateError.syntax("{% continue %} outside a loop", line: 0)
        }
        return output
    }

    // MARK: Variables

    func lookup(_ name: String) -> JinjaValue {
        for scope in scopes.reversed() { if let v = scope[name] { return v } }
        switch name {
        case "raise_exception", "namespace", "strftime_now", "range", "dict", "joiner", "cycler", "lipsum":
            return .function(name, JinjaBoundSelf(value: nil))
        default:
            return .undefined(name)
        }
    }

    private func assign(_ name: String, _ value: JinjaValue) { scopes[scopes.count - 1][name] = value }

    // MARK: Statements

    private func run(_ nodes: [JinjaNode]) throws {
        for node in nodes {
            switch node {
            case .text(let t): output += t
            case .output(let e, let line):
                output += try str(try eval(e, line), line)
            case .ifBlock(let branches, let otherwise, let line):
                var done = false
                for (cond, body) in branches where try eval(cond, line).truthy {
                    try run(body)
                    done = true
                    break
                }
                if !done { try run(otherwise) }
            case .forBlock(let targets, let iterable, let filter, let body, let otherwise, let line):
                try runFor(targets, iterable, filter, body, otherwise, line)
            case .set(let target, let attribute, let e, let line):
                let v = try eval(e, line)
                if let attribute {
                    guard case .namespace(let ref) = lookup(target) else {
                        throw ChatTemplateError.runtime("cannot assign attribute on non-namespace object '\(target)'", line: line)
                    }
                    ref.ns.attributes[attribute] = v
                } else {
                    assign(target, v)
                }
            case .breakLoop: throw Flow.breakLoop
            case .continueLoop: throw Flow.continueLoop
            }
        }
    }

    private func runFor(
        _ targets: [String], _ iterable: JinjaExpr, _ filter: JinjaExpr?, _ body: [JinjaNode],
        _ otherwise: [JinjaNode], _ line: Int
    ) throws {
        var items: [JinjaValue]
        switch try eval(iterable, line) {
        case .array(let a): items = a
        case .object(let o): items = o.keys.map { .string($0) }
        case .string(let s): items = s.unicodeScalars.map { .string(String($0)) }
        case .undefined: items = []
        case let v: throw ChatTemplateError.runtime("'\(v.typeName)' object is not iterable", line: line)
        }
        if let filter {
            var kept: [JinjaValue] = []
            for item in items {
                scopes.append([:])
                defer { scopes.removeLast() }
                try bind(targets, item, line)
                if try eval(filter, line).truthy { kept.append(item) }
            }
            items = kept
        }
        if items.isEmpty {
            try run(otherwise)
            return
        }
        for (n, item) in items.enumerated() {
            scopes.append([:])
            defer { scopes.removeLast() }
            let loop = JinjaLoop(
                index0: n, length: items.count, previous: n > 0 ? items[n - 1] : nil,
                next: n + 1 < items.count ? items[n + 1] : nil)
            assign("loop", .loop(JinjaLoopRef(loop: loop)))
            try bind(targets, item, line)
            do {
                try run(body)
            } catch Flow.continueLoop {
                continue
            } catch Flow.breakLoop {
                break
            }
        }
    }

    private func bind(_ targets: [String], _ item: JinjaValue, _ line: Int) throws {
        if targets.count == 1 {
            assign(targets[0], item)
            return
        }
        guard case .array(let parts) = item, parts.count == targets.count else {
            throw ChatTemplateError.runtime("cannot unpack \(item.typeName) into \(targets.count) loop variables", line: line)
        }
        for (t, v) in zip(targets, parts) { assign(t, v) }
    }

    // MARK: Expressions

    func eval(_ e: JinjaExpr, _ line: Int) throws -> JinjaValue {
        switch e {
        case .literal(let v): return v
        case .name(let n): return lookup(n)
        case .list(let items): return .array(try items.map { try eval($0, line) })
        case .dict(let pairs):
            var o = JinjaObject()
            for (ke, ve) in pairs {
                guard case .string(let key) = try eval(ke, line) else {
                    throw ChatTemplateError.unsupported("dict literal with non-string keys", line: line)
                }
                o[key] = try eval(ve, line)
            }
            return .object(o)
        case .attribute(let base, let name):
            return try attribute(try eval(base, line), name, line)
        case .item(let base, let index):
            return try item(try eval(base, line), try eval(index, line), line)
        case .slice(let base, let a, let b, let c):
            return try slice(
                try eval(base, line), try a.map { try eval($0, line) }, try b.map { try eval($0, line) },
                try c.map { try eval($0, line) }, line)
        case .call(let callee, let args, let kwargs):
            let f = try eval(callee, line)
            let a = try args.map { try eval($0, line) }
            var kw: [(String, JinjaValue)] = []
            for (n, x) in kwargs { kw.append((n, try eval(x, line))) }
            return try call(f, a, kw, line)
        case .filter(let base, let name, let args, let kwargs):
            let v = try eval(base, line)
            let a = try args.map { try eval($0, line) }
            var kw: [(String, JinjaValue)] = []
            for (n, x) in kwargs { kw.append((n, try eval(x, line))) }
            return try applyFilter(name, v, a, kw, line)
        case .test(let base, let name, let args, let negated):
            let v = try eval(base, line)
            let r = try applyTest(name, v, try args.map { try eval($0, line) }, line)
            return .bool(negated ? !r : r)
        case .unary(let op, let x):
            let v = try eval(x, line)
            switch op {
            case "not": return .bool(!v.truthy)
            case "-":
                switch v {
                case .int(let i):
                    if i == Int.min { throw ChatTemplateError.unsupported("integers beyond 64 bits (Python big ints)", line: line) }
                    return .int(-i)
                case .double(let d): return .double(-d)
                case .bool(let b): return .int(b ? -1 : 0)
                default: throw typeError("bad operand type for unary -: '\(v.typeName)'", v, line)
                }
            default:
                guard v.number != nil else { throw typeError("bad operand type for unary +: '\(v.typeName)'", v, line) }
                if case .bool(let b) = v { return .int(b ? 1 : 0) }
                return v
            }
        case .and(let a, let b):
            let x = try eval(a, line)
            return x.truthy ? try eval(b, line) : x
        case .or(let a, let b):
            let x = try eval(a, line)
            return x.truthy ? x : try eval(b, line)
        case .conditional(let cond, let yes, let no):
            if try eval(cond, line).truthy { return try eval(yes, line) }
            return try no.map { try eval($0, line) } ?? .undefined("conditional expression without else")
        case .binary(let op, let a, let b):
            return try binary(op, try eval(a, line), try eval(b, line), line)
        case .compare(let first, let ops):
            var left = try eval(first, line)
            for (op, e) in ops {
                let right = try eval(e, line)
                let r: JinjaValue
                if op == "not in" {
                    r = .bool(!(try binary("in", left, right, line)).truthy)
                } else {
                    r = try binary(op, left, right, line)
                }
                if !r.truthy { return .bool(false) }
                left = right
            }
            return .bool(true)
        }
    }

    /// jinja2's Undefined raises when used as a value; other type errors come from Python.
    func typeError(_ message: String, _ operands: JinjaValue..., line: Int) -> ChatTemplateError {
        for v in operands { if case .undefined(let n) = v { return undefinedError(n, line) } }
        return .runtime(message, line: line)
    }

    func typeError(_ message: String, _ v: JinjaValue, _ line: Int) -> ChatTemplateError {
        typeError(message, v, line: line)
    }

    func undefinedError(_ name: String, _ line: Int) -> ChatTemplateError {
        .runtime("'\(name)' is undefined", line: line)
    }

    /// The text of a value in output or `~` (Python's str()).
    func str(_ v: JinjaValue, _ line: Int) throws -> String {
        switch v {
        case .undefined: return ""
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return JinjaValue.pythonFloat(d)
        case .string(let s): return s
        case .array, .object, .namespace, .loop, .function:
            throw ChatTemplateError.unsupported("printing a \(v.typeName) directly (Python repr); use tojson", line: line)
        }
    }

    private func binary(_ op: String, _ a: JinjaValue, _ b: JinjaValue, _ line: Int) throws -> JinjaValue {
        switch op {
        case "==": return .bool(a == b)
        case "!=": return .bool(a != b)
        case "<", ">", "<=", ">=":
            let c: Int
            if let x = a.number, let y = b.number {
                c = x < y ? -1 : (x > y ? 1 : 0)
            } else if case .string(let x) = a, case .string(let y) = b {
                let xs = Array(x.unicodeScalars.map(\.value)), ys = Array(y.unicodeScalars.map(\.value))
                c = xs.lexicographicallyPrecedes(ys) ? -1 : (xs == ys ? 0 : 1)
            } else {
                throw typeError("'\(op)' not supported between \(a.typeName) and \(b.typeName)", a, b, line: line)
            }
            switch op {
            case "<": return .bool(c < 0)
            case ">": return .bool(c > 0)
            case "<=": return .bool(c <= 0)
            default: return .bool(c >= 0)
            }
        case "in":
            switch b {
            case .string(let s):
                guard case .string(let x) = a else { throw typeError("'in <string>' requires string as left operand", a, b, line: line) }
                return .bool(JinjaValue.contains(s, x))
            case .array(let items): return .bool(items.contains(a))
            case .object(let o):
                guard case .string(let key) = a else { return .bool(false) }
                return .bool(o[key] != nil)
            case .undefined: return .bool(false)
            default: throw typeError("argument of type '\(b.typeName)' is not iterable", a, b, line: line)
            }
        case "~": return .string(try str(a, line) + str(b, line))
        case "+":
            switch (a, b) {
            case (.string(let x), .string(let y)): return .string(x + y)
            case (.array(let x), .array(let y)): return .array(x + y)
            default: return try arithmetic(op, a, b, line)
            }
        case "*":
            // Python repeats sequences by ints and bools alike.
            if case .bool(let f) = b, case .string = a { return try binary("*", a, .int(f ? 1 : 0), line) }
            if case .bool(let f) = a, case .string = b { return try binary("*", .int(f ? 1 : 0), b, line) }
            if case .bool(let f) = b, case .array = a { return try binary("*", a, .int(f ? 1 : 0), line) }
            if case .bool(let f) = a, case .array = b { return try binary("*", .int(f ? 1 : 0), b, line) }
            switch (a, b) {
            case (.string(let s), .int(let n)), (.int(let n), .string(let s)):
                guard n <= 0 || s.utf8.count <= 50_000_000 / n else { throw ChatTemplateError.runtime("string repetition too large", line: line) }
                return .string(String(repeating: s, count: max(n, 0)))
            case (.array(let x), .int(let n)), (.int(let n), .array(let x)):
                guard n <= 0 || x.count <= 1_000_000 / n else { throw ChatTemplateError.runtime("list repetition too large", line: line) }
                return .array(Array(repeating: x, count: max(n, 0)).flatMap { $0 })
            default: return try arithmetic(op, a, b, line)
            }
        case "%":
            if case .string = a { throw ChatTemplateError.unsupported("'%' string formatting", line: line) }
            return try arithmetic(op, a, b, line)
        default: return try arithmetic(op, a, b, line)
        }
    }

    private func arithmetic(_ op: String, _ a: JinjaValue, _ b: JinjaValue, _ line: Int) throws -> JinjaValue {
        guard let x = a.number, let y = b.number else {
            throw typeError("unsupported operand types for \(op): '\(a.typeName)' and '\(b.typeName)'", a, b, line: line)
        }
        let ints: (Int, Int)? = {
            switch (a, b) {
            case (.int(let i), .int(let j)): return (i, j)
            case (.int(let i), .bool(let q)): return (i, q ? 1 : 0)
            case (.bool(let p), .int(let j)): return (p ? 1 : 0, j)
            case (.bool(let p), .bool(let q)): return (p ? 1 : 0, q ? 1 : 0)
            default: return nil
            }
        }()
        func checked(_ r: (partialValue: Int, overflow: Bool)) throws -> JinjaValue {
            if r.overflow { throw ChatTemplateError.unsupported("integers beyond 64 bits (Python big ints)", line: line) }
            return .int(r.partialValue)
        }
        switch op {
        case "+":
            if let (i, j) = ints { return try checked(i.addingReportingOverflow(j)) }
            return .double(x + y)
        case "-":
            if let (i, j) = ints { return try checked(i.subtractingReportingOverflow(j)) }
            return .double(x - y)
        case "*":
            if let (i, j) = ints { return try checked(i.multipliedReportingOverflow(by: j)) }
            return .double(x * y)
        case "/":
            guard y != 0 else { throw ChatTemplateError.runtime("division by zero", line: line) }
            return .double(x / y)
        case "//", "%":
            guard y != 0 else { throw ChatTemplateError.runtime("integer division or modulo by zero", line: line) }
            if let (i, j) = ints {
                if i == Int.min && j == -1 { throw ChatTemplateError.unsupported("integers beyond 64 bits (Python big ints)", line: line) }
                var q = i / j
                if (i % j != 0) && ((i < 0) != (j < 0)) { q -= 1 }  // Python floors
                return op == "//" ? .int(q) : .int(i - q * j)
            }
            let q = (x / y).rounded(.down)
            return op == "//" ? .double(q) : .double(x - q * y)
        case "**":
            if let (i, j) = ints, j >= 0 {
                if i == 0 || i == 1 { return .int(j == 0 ? 1 : i) }
                if i == -1 { return .int(j % 2 == 0 ? 1 : -1) }
                var r = 1
                for _ in 0..<j {  // |i| >= 2 overflows within 64 steps
                    let (p, o) = r.multipliedReportingOverflow(by: i)
                    if o { throw ChatTemplateError.unsupported("integers beyond 64 bits (Python big ints)", line: line) }
                    r = p
                }
                return .int(r)
            }
            return .double(Foundation.pow(x, y))
        default: throw ChatTemplateError.unsupported("operator '\(op)'", line: line)
        }
    }

    // MARK: Attributes and items

    private static let dictMethods: Set<String> = ["items", "keys", "values", "get"]
    private static let stringMethods: Set<String> = [
        "strip", "lstrip", "rstrip", "split", "startswith", "endswith",
        "upper", "lower", "replace", "title", "capitalize"
    ]
    private static let pythonDictMethods: Set<String> = ["pop", "update", "setdefault", "copy", "clear", "popitem", "fromkeys"]
    private static let pythonStringMethods: Set<String> = [
        "format", "join", "find", "rfind", "index", "rindex", "count",
        "splitlines", "rsplit", "partition", "rpartition", "isdigit",
        "isalpha", "isspace", "zfill", "center", "ljust", "rjust",
        "encode", "casefold", "swapcase", "expandtabs", "removeprefix",
        "removesuffix", "isalnum", "islower", "isupper", "istitle"
    ]
    private static let pythonListMethods: Set<String> = [
        "append", "extend", "insert", "pop", "remove", "index", "count",
        "sort", "reverse", "copy", "clear"
    ]

    /// `x.name`: jinja2 tries Python attributes (methods) first, then items.
    func attribute(_ base: JinjaValue, _ name: String, _ line: Int) throws -> JinjaValue {
        switch base {
        case .object(let o):
            if Self.dictMethods.contains(name) { return .function(name, JinjaBoundSelf(value: base)) }
            if Self.pythonDictMethods.contains(name) {
                throw ChatTemplateError.unsupported("dict method '\(name)'", line: line)
            }
            return o[name] ?? .undefined(name)
        case .string:
            if Self.stringMethods.contains(name) { return .function(name, JinjaBoundSelf(value: base)) }
            if Self.pythonStringMethods.contains(name) {
                throw ChatTemplateError.unsupported("string method '\(name)'", line: line)
            }
            return .undefined(name)
        case .array:
            if Self.pythonListMethods.contains(name) {
                throw ChatTemplateError.unsupported("list method '\(name)'", line: line)
            }
            return .undefined(name)
        case .namespace(let ref): return ref.ns.attributes[name] ?? .undefined(name)
        case .loop(let ref):
            let l = ref.loop
            switch name {
            case "index0": return .int(l.index0)
            case "index": return .int(l.index0 + 1)
            case "revindex": return .int(l.length - l.index0)
            case "revindex0": return .int(l.length - l.index0 - 1)
            case "first": return .bool(l.index0 == 0)
            case "last": return .bool(l.index0 == l.length - 1)
            case "length": return .int(l.length)
            case "previtem": return l.previous ?? .undefined("previtem")
            case "nextitem": return l.next ?? .undefined("nextitem")
            default: throw ChatTemplateError.unsupported("loop.\(name)", line: line)
            }
        case .undefined(let n): throw undefinedError(n, line)
        default: return .undefined(name)
        }
    }

    /// `x[key]`: items first, then attributes.
    func item(_ base: JinjaValue, _ key: JinjaValue, _ line: Int) throws -> JinjaValue {
        switch (base, key) {
        case (.array(let a), _):
            guard let i = intIndex(key) else {
                if case .string(let name) = key { return try attribute(base, name, line) }
                throw ChatTemplateError.runtime("list indices must be integers", line: line)
            }
            let j = i < 0 ? a.count + i : i
            return j >= 0 && j < a.count ? a[j] : .undefined("[\(i)]")
        case (.string(let s), _):
            guard let i = intIndex(key) else {
                if case .string(let name) = key { return try attribute(base, name, line) }
                throw ChatTemplateError.runtime("string indices must be integers", line: line)
            }
            let chars = Array(s.unicodeScalars)
            let j = i < 0 ? chars.count + i : i
            return j >= 0 && j < chars.count ? .string(String(chars[j])) : .undefined("[\(i)]")
        case (.object(let o), .string(let k)): return o[k] ?? .undefined(k)
        case (.object, _): return .undefined("item")
        case (.undefined(let n), _): throw undefinedError(n, line)
        case (_, .string(let name)): return try attribute(base, name, line)
        default: return .undefined("item")
        }
    }

    private func intIndex(_ v: JinjaValue) -> Int? {
        switch v {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    /// Python slicing of lists and strings.
    private func slice(_ base: JinjaValue, _ a: JinjaValue?, _ b: JinjaValue?, _ c: JinjaValue?, _ line: Int) throws -> JinjaValue {
        func bound(_ v: JinjaValue?) throws -> Int? {
            guard let v, v != .none else { return nil }
            guard let i = intIndex(v) else { throw ChatTemplateError.runtime("slice indices must be integers or None", line: line) }
            return i
        }
        let step = try bound(c) ?? 1
        guard step != 0 else { throw ChatTemplateError.runtime("slice step cannot be zero", line: line) }
        func indices(_ n: Int) throws -> [Int] {
            func clamp(_ x: Int?, _ def: Int) -> Int {
                guard var x else { return def }
                if x < 0 { x += n }
                return step > 0 ? min(max(x, 0), n) : min(max(x, -1), n - 1)
            }
            var out: [Int] = []
            if step > 0 {
                var i = clamp(try bound(a), 0)
                let end = clamp(try bound(b), n)
                while i < end {
                    out.append(i)
                    i += step
                }
            } else {
                var i = clamp(try bound(a), n - 1)
                let end = clamp(try bound(b), -1)
                while i > end {
                    out.append(i)
                    i += step
                }
            }
            return out
        }
        switch base {
        case .array(let items): return .array(try indices(items.count).map { items[$0] })
        case .string(let s):
            let chars = Array(s.unicodeScalars)
            var out = String.UnicodeScalarView()
            for k in try indices(chars.count) { out.append(chars[k]) }
            return .string(String(out))
        case .undefined(let n): throw undefinedError(n, line)
        default: throw ChatTemplateError.runtime("'\(base.typeName)' object is not subscriptable", line: line)
        }
    }
}
