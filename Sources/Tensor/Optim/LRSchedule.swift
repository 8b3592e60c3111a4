import Foundation

/// A learning-rate schedule: linear warm-up from 0 to `peak` over `warmupSteps`, then a decay to
/// `minimum` at `totalSteps` (cosine, linear, or none), constant after.
public struct LRSchedule: Sendable, Equatable {
    public enum Decay: Sendable, Equatable { case cosine, linear, constant }

    public var peak: Float
    public var warmupSteps: Int
    public var totalSteps: Int
    public var minimum: Float
    public var decay: Decay

    public init(peak: Float, warmupSteps: Int, totalSteps: Int, minimum: Float = 0, decay: Decay = .cosine) {
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.minimum = minimum
        self.decay = decay
    }

    /// The rate for 0-based step `step`: warm-up gives peak * (step + 1) / warmupSteps.
    public func rate(at step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        let span = Swift.max(1, totalSteps - warmupSteps)
        let progress = Swift.min(1, Double(step - warmupSteps) / Double(span))
        switch decay {
        case .constant: return peak
        case .linear: return minimum + (peak - minimum) * Float(1 - progress)
        case .cosine: return minimum + (peak - minimum) * Float(0.5 * (1 + Foundation.cos(Double.pi * progress)))
        }
    }
}
