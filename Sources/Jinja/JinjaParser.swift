import Foundation

/// Expressions of the supported Jinja subset.
indirect enum JinjaExpr {
    case literal(JinjaValue)
    case name(String)
    case list([JinjaExpr])
    case dict([(JinjaExpr, JinjaExpr)])
    case attribute(JinjaExpr, String)
    case item(JinjaExpr, JinjaExpr)
    case slice(JinjaExpr, JinjaExpr?, JinjaExpr?, JinjaExpr?)
    case call(JinjaExpr, [JinjaExpr], [(String, JinjaExpr)])
    case filter(JinjaExpr, String, [JinjaExpr], [(String, JinjaExpr)])
    case test(JinjaExpr, String, [JinjaExpr], negated: Bool)
    case unary(String, JinjaExpr)
    case binary(String, JinjaExpr, JinjaExpr)
    /// A comparison chain `a < b <= c` (jinja2 and Python: pairwise, and-ed).
    case compare(JinjaExpr, [(String, JinjaExpr)])
    case and(JinjaExpr, JinjaExpr)
    case or(JinjaExpr, JinjaExpr)
    case conditional(JinjaExpr, JinjaExpr, JinjaExpr?)
}

/// Statements; `line` is the template line of the tag, for errors.
indirect enum JinjaNode {
    case text(String)
    case output(JinjaExpr, line: Int)
    case ifBlock([(JinjaExpr, [JinjaNode])], otherwise: [JinjaNode], line: Int)
    case forBlock(
        targets: [String], iterable: JinjaExpr, filter: JinjaExpr?, body: [JinjaNode],
        otherwise: [JinjaNode], line: Int)
    case set(target: String, attribute: String?, JinjaExpr, line: Int)
    case breakLoop(line: Int)
    case continueLoop(line: Int)
}

/// Recursive-descent parser over the lexer's segments, following jinja2's grammar and operator
/// precedence. Tags it does not implement (macro, call, filter blocks, include, ...) are refused
/// by name.
struct JinjaParser {
    private let segments: [JinjaSegment]
    private var pos = 0
    // The expression being parsed.
    private var toks: [JinjaToken] = []
    private var k = 0
    private var line = 0

    static func parse(_ source: String) throws -> [JinjaNode] {
        var p = JinjaParser(segments: try JinjaLexer.segments(source))
        let (nodes, end) = try p.block(until: [])
        if let end { throw ChatTemplateError.syntax("unexpected {% \(end) %}", line: p.line) }
        return nodes
    }

    private init(segments: [JinjaSegment]) { self.segments = segments }

    /// Parses nodes until one of the `until` tags; returns that tag's name (its tokens are left in
    /// `toks` after the keyword) or nil at the end of the template.
    private mutating func block(until: Set<String>) throws -> ([JinjaNode], String?) {
        var nodes: [JinjaNode] = []
        while pos < segments.count {
            let seg = segments[pos]
            pos += 1
            switch seg {
            case .text(let t): nodes.append(.text(t))
            case .output(let tokens, let l):
                start(tokens, l)
                let e = try expression()
                try expectEnd()
                nodes.append(.output(e, line: l))
            case .statement(let tokens, let l):
                start(tokens, l)
                guard case .name(let keyword)? = next() else {
                    throw ChatTemplateError.syntax("expected a tag name after {%", line: l)
                }
                if until.contains(keyword) { return (nodes, keyword) }
                nodes.append(try statement(keyword, line: l))
            }
        }
        if !until.isEmpty {
            throw ChatTemplateError.syntax("missing {% \(until.sorted().joined(separator: " / ")) %}", line: line)
        }
        return (nodes, nil)
    }

    private mutating func statement(_ keyword: String, line l: Int) throws -> JinjaNode {
        try nest()
        defer { depth -= 1 }
        switch keyword {
        case "if":
            var branches: [(JinjaExpr, [JinjaNode])] = []
            var cond = try expression()
            try expectEnd()
            while true {
                let (body, end) = try block(until: ["elif", "else", "endif"])
                branches.append((cond, body))
                if end == "elif" {
                    cond = try expression()
                    try expectEnd()
                    continue
                }
                var otherwise: [JinjaNode] = []
                if end == "else" {
                    try expectEnd()
                    let (b, e2) = try block(until: ["endif"])
                    otherwise = b
                    _ = e2
                }
                try expectEnd()
                return .ifBlock(branches, otherwise: otherwise, line: l)
            }
        case "for":
            var targets: [String] = []
            repeat {
                guard case .name(let n)? = next() else { throw ChatTemplateError.syntax("expected a loop variable", line: l) }
                targets.append(n)
            } while accept(.op(","))
            guard accept(.name("in")) else { throw ChatTemplateError.syntax("expected 'in' in for", line: l) }
            let iterable = try orExpr(noConditional: true)
            var filter: JinjaExpr?
            if accept(.name("if")) { filter = try orExpr(noConditional: true) }
            if accept(.name("recursive")) { throw ChatTemplateError.unsupported("recursive for loops", line: l) }
            try expectEnd()
            let (body, end) = try block(until: ["else", "endfor"])
            var otherwise: [JinjaNode] = []
            if end == "else" {
                try expectEnd()
                otherwise = try block(until: ["endfor"]).0
            }
            try expectEnd()
            return .forBlock(
                targets: targets, iterable: iterable, filter: filter, body: body,
                otherwise: otherwise, line: l)
        case "set":
            guard case .name(let target)? = next() else { throw ChatTemplateError.syntax("expected a name after set", line: l) }
            var attribute: String?
            if accept(.op(".")) {
                guard case .name(let a)? = next() else { throw ChatTemplateError.syntax("expected an attribute", line: l) }
                attribute = a
            }
            if peek == .op(",") { throw ChatTemplateError.unsupported("{% set %} with several targets", line: l) }
            if k == toks.count { throw ChatTemplateError.unsupported("block {% set %} ... {% endset %}", line: l) }
            guard accept(.op("=")) else { throw ChatTemplateError.syntax("expected '=' in set", line: l) }
            let value = try expression()
            try expectEnd()
            return .set(target: target, attribute: attribute, value, line: l)
        case "break":
            try expectEnd()
            return .breakLoop(line: l)
        case "continue":
            try expectEnd()
            return .continueLoop(line: l)
        case "macro", "call", "filter", "include", "import", "from", "extends", "block", "with", "autoescape",
            "generation", "do", "trans", "raw":
            throw ChatTemplateError.unsupported("{% \(keyword) %}", line: l)
        default:
            throw ChatTemplateError.syntax("unknown tag {% \(keyword) %}", line: l)
        }
    }

    // MARK: Token helpers

    private mutating func start(_ tokens: [JinjaToken], _ l: Int) {
        toks = tokens
        k = 0
        line = l
    }
    private var peek: JinjaToken? { k < toks.count ? toks[k] : nil }
    private mutating func next() -> JinjaToken? {
        defer { k += 1 }
        return peek
    }
    private mutating func accept(_ t: JinjaToken) -> Bool {
        if peek == t {
            k += 1
            return true
        }
        return false
    }
    private mutating func expect(_ t: JinjaToken) throws {
        guard accept(t) else { throw ChatTemplateError.syntax("expected \(describe(t)), found \(peek.map(describe) ?? "end of tag")", line: line) }
    }
    private func expectEnd() throws {
        if let t = peek { throw ChatTemplateError.syntax("unexpected \(describe(t))", line: line) }
    }
    private func describe(_ t: JinjaToken) -> String {
        switch t {
        case .name(let n): return "'\(n)'"
        case .string(let s): return "string \(s.debugDescription)"
        case .int(let i): return "\(i)"
        case .double(let d): return "\(d)"
        case .op(let o): return "'\(o)'"
        }
    }

    // MARK: Expressions (jinja2's precedence, loosest first)

    private mutating func expression() throws -> JinjaExpr { try orExpr(noConditional: false) }

    private var depth = 0
    private mutating func nest() throws {
        depth += 1
        if depth > 200 { throw ChatTemplateError.unsupported("nesting deeper than 200", line: line) }
    }

    private mutating func orExpr(noConditional: Bool) throws -> JinjaExpr {
        try nest()
        defer { depth -= 1 }
        var e = try or()
        if !noConditional, accept(.name("if")) {
            let cond = try or()
            var otherwise: JinjaExpr?
            if accept(.name("else")) { otherwise = try expression() }
            e = .conditional(cond, e, otherwise)
        }
        return e
    }

    private mutating func or() throws -> JinjaExpr {
        var e = try and()
        while accept(.name("or")) { e = .or(e, try and()) }
        return e
    }

    private mutating func and() throws -> JinjaExpr {
        var e = try not()
        while accept(.name("and")) { e = .and(e, try not()) }
        return e
    }

    private mutating func not() throws -> JinjaExpr {
        try nest()
        defer { depth -= 1 }
        if accept(.name("not")) { return .unary("not", try not()) }
        return try compare()
    }

    private mutating func compare() throws -> JinjaExpr {
        let first = try math1()
        var ops: [(String, JinjaExpr)] = []
        while true {
            if case .op(let o)? = peek, ["==", "!=", "<", ">", "<=", ">="].contains(o) {
                k += 1
                ops.append((o, try math1()))
            } else if accept(.name("in")) {
                ops.append(("in", try math1()))
            } else if peek == .name("not"), k + 1 < toks.count, toks[k + 1] == .name("in") {
                k += 2
                ops.append(("not in", try math1()))
            } else {
                break
            }
        }
        if ops.isEmpty { return first }
        return .compare(first, ops)
    }

    private mutating func math1() throws -> JinjaExpr {
        var e = try concat()
        while case .op(let o)? = peek, o == "+" || o == "-" {
            k += 1
            e = .binary(o, e, try concat())
        }
        return e
    }

    private mutating func concat() throws -> JinjaExpr {
        var e = try math2()
        while accept(.op("~")) { e = .binary("~", e, try math2()) }
        return e
    }

    private mutating func math2() throws -> JinjaExpr {
        var e = try pow()
        while case .op(let o)? = peek, ["*", "/", "//", "%"].contains(o) {
            k += 1
            e = .binary(o, e, try pow())
        }
        return e
    }

    private mutating func pow() throws -> JinjaExpr {
        var e = try unary(withFilter: true)
        while accept(.op("**")) { e = .binary("**", e, try unary(withFilter: true)) }
        return e
    }

    private mutating func unary(withFilter: Bool) throws -> JinjaExpr {
        try nest()
        defer { depth -= 1 }
        var e: JinjaExpr
        if accept(.op("-")) {
            e = .unary("-", try unary(withFilter: false))
        } else if accept(.op("+")) {
            e = .unary("+", try unary(withFilter: false))
        } else {
            e = try postfix(try primary())
        }
        if withFilter { e = try filters(e) }
        return e
    }

    private mutating func primary() throws -> JinjaExpr {
        guard let t = next() else { throw ChatTemplateError.syntax("expected an expression", line: line) }
        switch t {
        case .string(var s):
            while case .string(let more)? = peek {
                s += more
                k += 1
            }  // adjacent literals concatenate
            return .literal(.string(s))
        case .int(let i): return .literal(.int(i))
        case .double(let d): return .literal(.double(d))
        case .name(let n):
            switch n {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .name(n)
            }
        case .op("("):
            let e = try expression()
            if peek == .op(",") { throw ChatTemplateError.unsupported("tuples", line: line) }
            try expect(.op(")"))
            return e
        case .op("["):
            var items: [JinjaExpr] = []
            while !accept(.op("]")) {
                if !items.isEmpty {
                    try expect(.op(","))
                    if accept(.op("]")) { break }
                }
                items.append(try expression())
            }
            return .list(items)
        case .op("{"):
            var pairs: [(JinjaExpr, JinjaExpr)] = []
            while !accept(.op("}")) {
                if !pairs.isEmpty {
                    try expect(.op(","))
                    if accept(.op("}")) { break }
                }
                let key = try expression()
                try expect(.op(":"))
                pairs.append((key, try expression()))
            }
            return .dict(pairs)
        default:
            throw ChatTemplateError.syntax("unexpected \(describe(t))", line: line)
        }
    }

    private mutating func postfix(_ base: JinjaExpr) throws -> JinjaExpr {
        var e = base
        while true {
            if accept(.op(".")) {
                switch next() {
                case .name(let n)?: e = .attribute(e, n)
                case .int(let i)?: e = .item(e, .literal(.int(i)))
                default: throw ChatTemplateError.syntax("expected an attribute name after '.'", line: line)
                }
            } else if accept(.op("[")) {
                e = try subscriptOrSlice(e)
            } else if peek == .op("(") {
                k += 1
                let (args, kwargs) = try arguments()
                e = .call(e, args, kwargs)
            } else {
                return e
            }
        }
    }

    private mutating func subscriptOrSlice(_ base: JinjaExpr) throws -> JinjaExpr {
        var parts: [JinjaExpr?] = [nil]
        var isSlice = false
        while !accept(.op("]")) {
            if accept(.op(":")) {
                isSlice = true
                parts.append(nil)
                if parts.count > 3 { throw ChatTemplateError.syntax("too many ':' in a slice", line: line) }
                continue
            }
            guard parts[parts.count - 1] == nil else { throw ChatTemplateError.syntax("expected ']'", line: line) }
            parts[parts.count - 1] = try expression()
        }
        if !isSlice {
            guard let index = parts[0] else { throw ChatTemplateError.syntax("empty subscript", line: line) }
            return .item(base, index)
        }
        while parts.count < 3 { parts.append(nil) }
        return .slice(base, parts[0], parts[1], parts[2])
    }

    /// Call arguments after '(' up to and including ')'.
    private mutating func arguments() throws -> ([JinjaExpr], [(String, JinjaExpr)]) {
        var args: [JinjaExpr] = []
        var kwargs: [(String, JinjaExpr)] = []
        while !accept(.op(")")) {
            if !args.isEmpty || !kwargs.isEmpty {
                try expect(.op(","))
                if accept(.op(")")) { break }
            }
            if peek == .op("*") || peek == .op("**") { throw ChatTemplateError.unsupported("*args / **kwargs in calls", line: line) }
            if case .name(let n)? = peek, k + 1 < toks.count, toks[k + 1] == .op("=") {
                k += 2
                kwargs.append((n, try expression()))
            } else {
                if !kwargs.isEmpty { throw ChatTemplateError.syntax("positional argument after keyword argument", line: line) }
                args.append(try expression())
            }
        }
        return (args, kwargs)
    }

    /// `| filter(args)` and `is [not] test args`, in any order after a unary expression.
    private mutating func filters(_ base: JinjaExpr) throws -> JinjaExpr {
        var e = base
        while true {
            if accept(.op("|")) {
                guard case .name(let name)? = next() else { throw ChatTemplateError.syntax("expected a filter name", line: line) }
                var args: [JinjaExpr] = []
                var kwargs: [(String, JinjaExpr)] = []
                if accept(.op("(")) { (args, kwargs) = try arguments() }
                e = .filter(e, name, args, kwargs)
            } else if accept(.name("is")) {
                let negated = accept(.name("not"))
                guard case .name(let name)? = next() else { throw ChatTemplateError.syntax("expected a test name", line: line) }
                var args: [JinjaExpr] = []
                if accept(.op("(")) {
                    let (a, kw) = try arguments()
                    if !kw.isEmpty { throw ChatTemplateError.unsupported("keyword arguments to tests", line: line) }
                    args = a
                } else if let t = peek, startsTestArgument(t) {
                    args = [try postfix(try primary())]
                }
                e = .test(e, name, args, negated: negated)
            } else {
                return e
            }
        }
    }

    /// jinja2 takes one bare argument after a test name (`is divisibleby 3`) unless the next
    /// token is an operator or a keyword that continues the expression.
    private func startsTestArgument(_ t: JinjaToken) -> Bool {
        switch t {
        case .string, .int, .double: return true
        case .name(let n):
            return !["else", "or", "and", "is", "in", "if", "not"].contains(n)
        case .op(let o): return o == "[" || o == "{"
        }
    }
}
