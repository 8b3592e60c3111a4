import Tensor

/// The Bradley-Terry reward-model loss, as TRL's RewardTrainer computes it:
///   mean over pairs of -log sigmoid(r_chosen - r_rejected - margin)
///   + centerCoefficient * mean((r_chosen + r_rejected)^2)
/// (the second term, TRL's `center_rewards_coefficient`, keeps rewards centred on zero).
public enum BradleyTerry {
    /// The loss of `rewards` [N] (one per response) over `pairs` of indices into it; rank 0.
    public static func loss(rewards: Variable, pairs: [PreferencePair], centerCoefficient: Float = 0) throws -> Variable {
        guard rewards.rank == 1 else {
            throw TensorError.invalidShape(op: "BradleyTerry.loss", shape: rewards.shape, reason: "needs one reward per response, [N]")
        }
        guard !pairs.isEmpty else {
            throw TensorError.invalidShape(op: "BradleyTerry.loss", shape: rewards.shape, reason: "no preference pair")
        }
        let n = rewards.shape[0]
        for p in pairs where p.chosen < 0 || p.chosen >= n || p.rejected < 0 || p.rejected >= n {
            throw TensorError.invalidShape(
                op: "BradleyTerry.loss", shape: rewards.shape,
                reason: "pair (\(p.chosen), \(p.rejected)) is outside the \(n) rewards")
        }
        let table = try rewards.reshaped([n, 1])
        let rc = try table.embedding(pairs.map { Int32($0.chosen) }).reshaped([pairs.count])
        let rr = try table.embedding(pairs.map { Int32($0.rejected) }).reshaped([pairs.count])
        var diff = try rc - rr
        if pairs.contains(where: { $0.margin != 0 }) {
            diff = try diff - Variable(try Tensor(shape: [pairs.count], scalars: pairs.map(\.margin)))
        }
        var loss = try diff.logSigmoid().mean().scaled(by: -1)
        if centerCoefficient != 0 {
            let sum = try rc + rr
            loss = try loss + (sum * sum).mean().scaled(by: centerCoefficient)
        }
        return loss
    }

    /// The fraction of pairs whose chosen reward is strictly higher (ties count as wrong).
    public static func accuracy(rewards: [Float], pairs: [PreferencePair]) -> Double {
        guard !pairs.isEmpty else { return 0 }
        return Double(pairs.filter { rewards[$0.chosen] > rewards[$0.rejected] }.count) / Double(pairs.count)
    }
}
