import Tensor

/// A padded batch of next-token pairs, row-major [rows, length].
public struct SFTBatch: Equatable, Sendable {
    /// Examples in the batch (the last batch of an epoch may have fewer than the batch size).
    public var rows: Int
    /// T: the longest example's n-1 (at most the context).
    public var length: Int
    /// [rows * length]: inputs[r*T + t] = tokens[t] of row r, the pad id after its n-1 inputs.
    public var inputs: [Int32]
    /// [rows * length]: tokens[t+1] where trainable, the ignore index elsewhere (untrained and padding).
    public var targets: [Int32]
    /// Targets that are not the ignore index: the loss's denominator.
    public var trainableTargets: Int
    /// Which of the batcher's examples, in row order.
    public var examples: [Int]
    public var epoch: Int

    /// Pads `examples` (each of at least 2 tokens) into one batch. `indices` and `epoch` are only recorded.
    public init(
        padding examples: [SFTExample], indices: [Int] = [], epoch: Int = 0, padID: Int32 = 0,
        ignoreIndex: Int32 = -100
    ) {
        rows = examples.count
        length = examples.map { $0.tokens.count - 1 }.max() ?? 0
        inputs = [Int32](repeating: padID, count: rows * length)
        targets = [Int32](repeating: ignoreIndex, count: rows * length)
        trainableTargets = 0
        for (r, e) in examples.enumerated() {
            let (x, y) = e.inputsAndTargets(ignoreIndex: ignoreIndex)
            inputs.replaceSubrange(r * length..<r * length + x.count, with: x)
            targets.replaceSubrange(r * length..<r * length + y.count, with: y)
            trainableTargets += e.trainableTargets
        }
        self.examples = indices
        self.epoch = epoch
    }
}

/// Shuffled, padded training batches whose content is a pure function of (seed, step): epoch
/// e = step / batchesPerEpoch visits the examples in `order(epoch: e)`, a permutation seeded by
/// (seed, e), cut into consecutive batches of `batchSize` (the last one of an epoch smaller when
/// the count does not divide). A run that resumes at step s recomputes `batch(at: s)` and sees
/// exactly the batches the uninterrupted run would have; nothing about past batches is stored.
///
/// Each call shuffles the epoch's order afresh (O(examples)), which is small beside a training step.
public struct SFTBatcher: Sendable {
    public let examples: [SFTExample]
    public let batchSize: Int
    public let seed: UInt64
    /// Any valid token id; padded inputs are never targets, so the value only has to be embeddable.
    public let padID: Int32
    public let ignoreIndex: Int32

    public init(examples: [SFTExample], batchSize: Int, seed: UInt64, padID: Int32 = 0, ignoreIndex: Int32 = -100) {
        precondition(!examples.isEmpty, "no examples to batch")
        precondition(batchSize >= 1, "batch size must be at least 1")
        precondition(examples.allSatisfy { $0.tokens.count >= 2 }, "every example needs at least 2 tokens")
        self.examples = examples
        self.batchSize = batchSize
        self.seed = seed
        self.padID = padID
        self.ignoreIndex = ignoreIndex
    }

    /// Batches in one pass over the examples.
    public var batchesPerEpoch: Int { (examples.count + batchSize - 1) / batchSize }

    /// The order epoch `epoch` visits the examples in.
    public func order(epoch: Int) -> [Int] {
        seededPermutation(examples.count, seed: seed &+ UInt64(truncatingIfNeeded: epoch) &* 0x9E37_79B9_7F4A_7C15)
    }

    /// The batch of training step `step` (0-based, counting across epochs).
    public func batch(at step: Int) -> SFTBatch {
        precondition(step >= 0, "step must be non-negative")
        let epoch = step / batchesPerEpoch, k = step % batchesPerEpoch
        let indices = Array(order(epoch: epoch)[k * batchSize..<min((k + 1) * batchSize, examples.count)])
        return SFTBatch(
            padding: indices.map { examples[$0] }, indices: indices, epoch: epoch, padID: padID,
            ignoreIndex: ignoreIndex)
    }

    /// Batches over `examples` in their order, unshuffled (for validation).
    public static func sequentialBatches(
        _ examples: [SFTExample], batchSize: Int, padID: Int32 = 0,
        ignoreIndex: Int32 = -100
    ) -> [SFTBatch] {
        precondition(batchSize >= 1, "batch size must be at least 1")
        return stride(from: 0, to: examples.count, by: batchSize).map { start in
            let indices = Array(start..<min(start + batchSize, examples.count))
            return SFTBatch(padding: indices.map { examples[$0] }, indices: indices, padID: padID, ignoreIndex: ignoreIndex)
        }
    }
}

/// A permutation of 0..<n from a seed (Fisher-Yates with `SeededRandom`): the same on every machine.
public func seededPermutation(_ n: Int, seed: UInt64) -> [Int] {
    var p = Array(0..<n)
    var rng = SeededRandom(seed: seed)
    var i = n - 1
    while i > 0 {
        p.swapAt(i, rng.nextInt(i + 1))
        i -= 1
    }
    return p
}
