import Foundation

/// `grm score`'s output: one judged item as a JSON object (one JSONL line).
///
/// ```
/// {"id", "category", "prompt", "responses",
///  "label": {"best": i} | {"scores": [...]} | {"binary": 0|1} | null,
///  "samples": [{"index", "order": [original index shown as Response 1, ...], "text",
///               "principles": [{"name", "weight", "detail"}], "analysis",
///               "scores": [original order] | null, "parsed": bool, "parseError": {"kind", "message"} | null,
///               "forced": bool (scores written after ScoreCue's cue), "correct": bool | null}],
///  "metaRatings": [one per sample], "metaVoters": [sample indices kept] (only with a meta RM),
///  "totals": [summed scores, original order], "voters", "best": i | null (tie or no voter),
///  "predictedLabel": 0|1|null (single response only), "outcome": "correct"|"wrong"|"tie"|"parse-failure"|null}
/// ```
/// Without a label (`labelled: false`), `label`, every `correct` and `outcome` are null.
extension RewardJudgement {
    public func scoredJSON(labelled: Bool = true) -> JSONValue {
        var pairs: [(key: String, value: JSONValue)] = []
        pairs.append(("id", item.id.map { .string($0) } ?? .null))
        pairs.append(("category", item.category.map { .string($0) } ?? .null))
        if item.prompt.count == 1 && item.prompt[0].role == "user" {
            pairs.append(("prompt", .string(item.prompt[0].content)))
        } else {
            pairs.append(
                (
                    "prompt",
                    .array(
                        item.prompt.map {
                            .object([("role", .string($0.role)), ("content", .string($0.content))])
                        })
                ))
        }
        pairs.append(("responses", .array(item.responses.map { .string($0) })))
        var label: JSONValue = .null
        if labelled {
            switch item.label {
            case let .best(b): label = .object([("best", .integer(b))])
            case let .scores(s): label = .object([("scores", .array(s.map { .number($0) }))])
            case let .binary(l): label = .object([("binary", .integer(l))])
            }
        }
        pairs.append(("label", label))
        pairs.append(("samples", .array(samples.map { $0.scoredJSON(labelled: labelled) })))
        if let metaRatings {
            pairs.append(("metaRatings", .array(metaRatings.map { .number($0) })))
            pairs.append(("metaVoters", .array(voters.map { .integer($0) })))
        }
        pairs.append(("totals", .array(vote.totals.map { .integer($0) })))
        pairs.append(("voters", .integer(vote.voters)))
        pairs.append(("best", vote.pick.map { .integer($0) } ?? .null))
        pairs.append(("predictedLabel", vote.predictedLabel.map { .integer($0) } ?? .null))
        pairs.append(("outcome", labelled ? .string(outcome.rawValue) : .null))
        return .object(pairs)
    }
}

extension JudgeSample {
    public func scoredJSON(labelled: Bool = true) -> JSONValue {
        var error: JSONValue = .null
        if let e = parseError { error = .object([("kind", .string(e.kind)), ("message", .string(e.description))]) }
        return .object([
            ("index", .integer(index)),
            ("order", .array(order.shownToOriginal.map { .integer($0) })),
            ("text", .string(text)),
            (
                "principles",
                .array(
                    principles.map { p in
                        .object([
                            ("name", .string(p.name)), ("weight", p.weight.map { .number($0) } ?? .null),
                            ("detail", .string(p.detail))
                        ])
                    })
            ),
            ("analysis", analysis.map { .string($0) } ?? .null),
            ("scores", scores.map { .array($0.map { .integer($0) }) } ?? .null),
            ("parsed", .bool(scores != nil)),
            ("parseError", error),
            ("forced", .bool(forced)),
            ("correct", labelled ? .bool(isCorrect) : .null)
        ])
    }
}
