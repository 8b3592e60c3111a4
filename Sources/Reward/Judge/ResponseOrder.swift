import Foundation
import Tensor

/// The order in which an item's responses are shown to the judge: `shownToOriginal[j]` is the
/// original index of the response shown as Response j+1. Scores the judge gives in shown order
/// are mapped back to original order with `toOriginal`.
public struct ResponseOrder: Equatable, Hashable, Sendable, Codable {
    public let shownToOriginal: [Int]

    /// A permutation of 0..<n; anything else is refused.
    public init(_ shownToOriginal: [Int]) throws {
        guard shownToOriginal.sorted() == Array(0..<shownToOriginal.count) else {
            throw RewardDataError("\(shownToOriginal) is not a permutation of 0..<\(shownToOriginal.count)")
        }
        self.shownToOriginal = shownToOriginal
    }

    /// The original order.
    public static func identity(_ n: Int) -> ResponseOrder { ResponseOrder(unchecked: Array(0..<n)) }

    /// A uniformly random order (Fisher-Yates with `rng`).
    public static func random(_ n: Int, rng: inout SeededRandom) -> ResponseOrder {
        var p = Array(0..<n)
        if n > 1 {
            for i in stride(from: n - 1, to: 0, by: -1) { p.swapAt(i, rng.nextInt(i + 1)) }
        }
        return ResponseOrder(unchecked: p)
    }

    init(unchecked p: [Int]) { shownToOriginal = p }

    public var count: Int { shownToOriginal.count }

    /// Where the response with original index `original` is shown (0-based).
    public func shownPosition(ofOriginal original: Int) -> Int {
        shownToOriginal.firstIndex(of: original)!
    }

    /// Values given per shown position, rearranged into original order.
    public func toOriginal<T>(_ shown: [T]) -> [T] {
        precondition(shown.count == count, "\(shown.count) values for \(count) responses")
        var out = shown
        for (j, original) in shownToOriginal.enumerated() { out[original] = shown[j] }
        return out
    }

    /// Values given per original response, rearranged into shown order.
    public func toShown<T>(_ original: [T]) -> [T] {
        precondition(original.count == count, "\(original.count) values for \(count) responses")
        return shownToOriginal.map { original[$0] }
    }
}
