import Foundation

/// A parsed Jinja template: the subset of jinja2 that chat templates use, evaluated as jinja2
/// with `trim_blocks` and `lstrip_blocks` evaluates it (HF's `apply_chat_template` settings),
/// with the `raise_exception` and `strftime_now` globals and `namespace()`. Anything outside
/// the subset throws `ChatTemplateError.unsupported` naming the construct.
public struct JinjaTemplate {
    let nodes: [JinjaNode]

    /// Parses a template; throws `ChatTemplateError` for invalid or unsupported syntax.
    public init(source: String) throws {
        nodes = try JinjaParser.parse(source)
    }

    /// Renders with the given global variables; `now` is the time `strftime_now` reports.
    public func render(globals: [String: JinjaValue], now: Date = Date()) throws -> String {
        try JinjaEvaluator(globals: globals, now: now).render(nodes)
    }
}
