/// A training checkpoint in memory: the parameters' values by name, the optimiser's state, the
/// step, and free-form integer counters and string metadata.
///
/// `init(step:parameters:optimizer:)` collects it from live variables and `restore` puts it back.
/// The tensors share storage with the variables and the optimiser (nothing is copied), so write
/// the checkpoint out before the next training step changes them. The file format (GGUF, with the
/// parameters under their own names so that a checkpoint of a model is a loadable model) lives in
/// the Transformer module: `Checkpoint.write(gguf:)` and `Checkpoint(gguf:)`.
public struct Checkpoint {
    public var step: Int
    /// Parameter values by variable name.
    public var parameters: [String: Tensor]
    /// The optimiser's state tensors and counters, as its `stateDict()` names them.
    public var optimizerTensors: [String: Tensor]
    public var optimizerCounters: [String: Int]
    /// Free-form counters and metadata (e.g. the task a model is trained on).
    public var counters: [String: Int]
    public var metadata: [String: String]

    public init(
        step: Int, parameters: [String: Tensor] = [:], optimizerTensors: [String: Tensor] = [:],
        optimizerCounters: [String: Int] = [:], counters: [String: Int] = [:], metadata: [String: String] = [:]
    ) {
        self.step = step
        self.parameters = parameters
        self.optimizerTensors = optimizerTensors
        self.optimizerCounters = optimizerCounters
        self.counters = counters
        self.metadata = metadata
    }

    /// The parameters' values (names must be non-empty and unique) and the optimiser's state.
    public init(
        step: Int, parameters: [Variable], optimizer: Optimizer?, counters: [String: Int] = [:],
        metadata: [String: String] = [:]
    ) throws {
        self.init(step: step, counters: counters, metadata: metadata)
        for p in parameters {
            guard !p.name.isEmpty else {
                throw TensorError.invalidShape(op: "Checkpoint", shape: p.shape, reason: "a parameter has no name")
            }
            guard self.parameters[p.name] == nil else {
                throw TensorError.invalidShape(op: "Checkpoint", shape: p.shape, reason: "duplicate parameter name \"\(p.name)\"")
            }
            self.parameters[p.name] = p.value
        }
        if let optimizer {
            (optimizerTensors, optimizerCounters) = optimizer.stateDict()
        }
    }

    /// Copies the saved values into `parameters` (in place, matched by name; every one must be
    /// saved, with its shape) and restores `optimizer`'s state from copies: afterwards the
    /// checkpoint shares no storage with what it restored.
    public func restore(parameters: [Variable], optimizer: Optimizer?) throws {
        for p in parameters {
            guard let t = self.parameters[p.name] else {
                throw TensorError.invalidShape(op: "Checkpoint.restore", shape: p.shape, reason: "no saved parameter \"\(p.name)\"")
            }
            guard t.shape == p.shape, t.dtype == .f32, p.value.isContiguous, p.value.dtype == .f32 else {
                throw TensorError.shapeMismatch(
                    op: "Checkpoint.restore", lhs: p.shape, rhs: t.shape,
                    reason: "parameter \"\(p.name)\" (saved \(t.dtype), variable \(p.value.dtype))")
            }
            if t.count > 0 { p.value.floatPointer.update(from: t.contiguous().floatPointer, count: t.count) }
            p.grad = nil
        }
        if let optimizer {
            try optimizer.loadStateDict(tensors: optimizerTensors.mapValues(Checkpoint.copy), counters: optimizerCounters)
        }
    }

    private static func copy(_ t: Tensor) -> Tensor {
        let out = Tensor.uninitialized(t.shape, dtype: t.dtype)
        if t.count > 0 { Copy.strided(from: t, into: out) }
        return out
    }
}
