import Tensor

/// Binary cross-entropy on logits, the pointwise objective of a meta reward model (SPCT: a
/// judgement is labelled 1 when the rule finds it correct, else 0):
///   mean over rows of -[y log sigmoid(z) + (1 - y) log sigmoid(-z)] = mean of -log sigmoid(s z),
/// with s = +1 for y = 1 and -1 for y = 0 (the same value, computed stably for large |z|).
public enum BinaryCrossEntropy {
    /// The loss of `logits` [N] against `labels` (N values, each 0 or 1); rank 0.
    public static func loss(logits: Variable, labels: [Float]) throws -> Variable {
        guard logits.rank == 1, logits.shape[0] == labels.count, !labels.isEmpty else {
            throw TensorError.invalidShape(
                op: "BinaryCrossEntropy.loss", shape: logits.shape, reason: "needs one logit per label (\(labels.count)), [N], N > 0")
        }
        if let bad = labels.first(where: { $0 != 0 && $0 != 1 }) {
            throw TensorError.invalidShape(op: "BinaryCrossEntropy.loss", shape: logits.shape, reason: "label \(bad) is not 0 or 1")
        }
        let signs = Variable(try Tensor(shape: [labels.count], scalars: labels.map { $0 == 1 ? 1 : -1 }))
        return try (logits * signs).logSigmoid().mean().scaled(by: -1)
    }

    /// The fraction of rows whose logit is on the label's side of 0 (a logit of exactly 0 counts
    /// as predicting 0).
    public static func accuracy(logits: [Float], labels: [Float]) -> Double {
        guard !labels.isEmpty else { return 0 }
        return Double(zip(logits, labels).filter { ($0 > 0) == ($1 == 1) }.count) / Double(labels.count)
    }
}
