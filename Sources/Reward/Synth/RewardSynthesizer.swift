import Foundation
import Tensor

/// Deterministic synthetic reward data: items whose best response is known by construction.
///
/// Each item has 2-4 responses (one right, the others plausibly wrong) with the right one at a
/// uniformly random position. The same seed, categories and split always give the same items in
/// the same order. An item belongs to one split, decided by a hash of what it asks (see
/// `SynthSplit`), so train and test never share a question whatever seeds they are made with.
/// Within one synthesizer a question is never repeated.
///
///     var synth = try RewardSynthesizer(seed: 1, categories: [.arithmetic, .facts], split: .test)
///     let items = try synth.generate(100)
public struct RewardSynthesizer {
    public let seed: UInt64
    public let categories: [SynthCategory]
    public let split: SynthSplit
    /// Fraction of items made single-response (`label` 0/1; the right or a wrong response at even odds).
    public let singleFraction: Double
    /// Responses per item.
    public let responseCounts: ClosedRange<Int>
    private var rng: SeededRandom
    private var seen: Set<UInt64> = []
    public private(set) var produced = 0

    /// Draws in a row that may be refused (wrong split or repeated question) before giving up.
    public var maxConsecutiveRejects = 20_000

    public init(
        seed: UInt64, categories: [SynthCategory] = SynthCategory.allCases, split: SynthSplit = .all,
        singleFraction: Double = 0, responseCounts: ClosedRange<Int> = 2...4
    ) throws {
        guard !categories.isEmpty else { throw RewardDataError("no categories") }
        guard (0...1).contains(singleFraction) else { throw RewardDataError("singleFraction \(singleFraction) is not in 0...1") }
        guard responseCounts.lowerBound >= 2, responseCounts.upperBound <= 4 else {
            throw RewardDataError("responses per item must be within 2...4, got \(responseCounts)")
        }
        guard !split.range.isEmpty else { throw RewardDataError("split \(split.name) is empty") }
        self.seed = seed
        self.categories = categories
        self.split = split
        self.singleFraction = singleFraction
        self.responseCounts = responseCounts
        rng = SeededRandom(seed: StableHash.seed(seed, 0x5359_4E54_48))
    }

    static func draft(_ category: SynthCategory, _ rng: inout SeededRandom) -> SynthDraft {
        switch category {
        case .arithmetic: return SynthArithmetic.draft(&rng)
        case .units: return SynthUnits.draft(&rng)
        case .ordering: return SynthOrdering.draft(&rng)
        case .instructions: return SynthInstructions.draft(&rng)
        case .facts: return SynthFacts.draft(&rng)
        case .spelling: return SynthSpelling.draft(&rng)
        }
    }

    /// The next item; throws when the split has run out of new questions for these categories.
    public mutating func next() throws -> RewardItem {
        var rejects = 0
        while true {
            let category = rng.pick(categories)
            var draft = RewardSynthesizer.draft(category, &rng)
            draft.wrong = RewardSynthesizer.distinctWrong(draft)
            let key = category.rawValue + "/" + draft.key
            let hash = StableHash.of("synth-item", key)
            if draft.wrong.isEmpty || !split.range.contains(SynthSplit.position(ofKey: key)) || seen.contains(hash) {
                rejects += 1
                if rejects >= maxConsecutiveRejects {
                    throw RewardDataError(
                        "no new \(split.name) items after \(rejects) draws: categories "
                            + categories.map(\.rawValue).joined(separator: ",") + " ran out of distinct questions after "
                            + "\(produced) items")
                }
                continue
            }
            seen.insert(hash)
            produced += 1
            let id = "synth-\(category.rawValue)-" + String(hash >> 16, radix: 16)
            if singleFraction > 0 && rng.chance(singleFraction) {
                let right = rng.chance(0.5)
                return try RewardItem(
                    id: id, category: category.rawValue, query: draft.prompt,
                    responses: [right ? draft.correct : rng.pick(draft.wrong)],
                    label: .binary(right ? 1 : 0))
            }
            let count = min(rng.int(responseCounts), draft.wrong.count + 1)
            let responses = [draft.correct] + rng.sample(draft.wrong, count - 1)
            let order = ResponseOrder.random(responses.count, rng: &rng)
            return try RewardItem(
                id: id, category: category.rawValue, query: draft.prompt,
                responses: order.toShown(responses),
                label: .best(order.shownPosition(ofOriginal: 0)))
        }
    }

    /// Wrong responses without repeats or copies of the right one.
    static func distinctWrong(_ d: SynthDraft) -> [String] {
        var seen: Set<String> = [d.correct]
        return d.wrong.filter { seen.insert($0).inserted }
    }

    /// The next `n` items.
    public mutating func generate(_ n: Int) throws -> [RewardItem] {
        try (0..<n).map { _ in try next() }
    }
}
