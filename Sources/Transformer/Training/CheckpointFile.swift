import Tensor

/// Training checkpoints as GGUF files.
///
/// Layout (version 1):
/// * tensors (all f32): each parameter under its own name, so a checkpoint of a `LlamaModel`
///   (whose variables carry their GGUF names) holds the model's weights as any GGUF reader
///   expects them; the optimiser's state under "grm.optim.<key>". Names starting "grm." are
///   reserved and refused for parameters.
/// * metadata: "grm.checkpoint.version" (uint32 1), ".step" (int64), ".optim.<key>" (the
///   optimiser's counters, int64), ".counter.<key>" (int64) and ".meta.<key>" (string), and
///   "general.name". Given the model's `LlamaConfig`, also the architecture keys
///   (`LlamaConfig.ggufMetadata`), which makes the file loadable by `LlamaInference(gguf:)`.
///
/// Files are written atomically (temporary file, fsync, rename, directory fsync): a crash leaves
/// the previous checkpoint or the new one, never a torn file. Reading copies every tensor out of
/// the mapped file, so the next save may replace the file while the values are in use.
extension Checkpoint {
    public static let ggufVersion = 1
    /// Metadata keys are "grm.checkpoint.<...>"; optimiser tensors "grm.optim.<key>".
    public static let metadataPrefix = "grm.checkpoint."
    public static let optimizerTensorPrefix = "grm.optim."
    /// Tensor names starting with this are the checkpoint's own, never parameters.
    public static let reservedTensorPrefix = "grm."

    /// Writes the checkpoint to `path` as GGUF, atomically. With `model`, the architecture
    /// metadata too, after checking that the parameters are that model's weights.
    public func write(gguf path: String, model: LlamaConfig? = nil, name: String = "swift-grm checkpoint") throws {
        let writer = try ggufWriter(model: model, name: name, path: path)
        do { try writer.write(to: path) } catch let e as GGUFError { throw CheckpointError(.file, path: path, e.description, gguf: e) }
    }

    /// The GGUF file's contents (`path` only names the file in errors).
    func ggufWriter(model: LlamaConfig?, name: String, path: String) throws -> GGUFWriter {
        func fail(_ message: String, _ gguf: GGUFError? = nil) -> CheckpointError {
            CheckpointError(.badTensor, path: path, message, gguf: gguf)
        }
        guard step >= 0 else { throw CheckpointError(.badMetadata, path: path, "step \(step) is negative") }
        var meta = GGUFMetadata()
        if let model {
            do { meta = try model.ggufMetadata(name: name) } catch {
                throw CheckpointError(.badMetadata, path: path, "the model's config cannot be written: \(error)")
            }
            do { _ = try LlamaWeights(config: model) { parameters[$0] } } catch {
                throw fail("the parameters are not a model of the given config: \(error)")
            }
            // Readers take a separate output.weight to mean untied embeddings.
            guard !model.tiedEmbeddings || parameters["output.weight"] == nil else {
                throw fail("the config ties the output to the embedding but there is a parameter 'output.weight'")
            }
        } else {
            meta["general.name"] = .string(name)
        }
        let p = Checkpoint.metadataPrefix
        meta[p + "version"] = .uint32(UInt32(Checkpoint.ggufVersion))
        meta[p + "step"] = .int64(Int64(step))
        for (k, v) in optimizerCounters.sorted(by: { Checkpoint.naturalOrder($0.key, $1.key) }) { meta[p + "optim." + k] = .int64(Int64(v)) }
        for (k, v) in counters.sorted(by: { Checkpoint.naturalOrder($0.key, $1.key) }) { meta[p + "counter." + k] = .int64(Int64(v)) }
        for (k, v) in metadata.sorted(by: { Checkpoint.naturalOrder($0.key, $1.key) }) { meta[p + "meta." + k] = .string(v) }

        var writer = GGUFWriter(metadata: meta)
        func add(_ name: String, _ t: Tensor) throws {
            guard t.dtype == .f32 else {
                throw fail("tensor '\(name)' is \(t.dtype); checkpoints hold f32 tensors only")
            }
            do { try writer.add(name, t) } catch let e as GGUFError { throw fail(e.description, e) }
        }
        for (name, t) in parameters.sorted(by: { Checkpoint.naturalOrder($0.key, $1.key) }) {
            guard !name.isEmpty else { throw fail("a parameter has an empty name") }
            guard !name.hasPrefix(Checkpoint.reservedTensorPrefix) else {
                throw fail("parameter name '\(name)' uses the reserved prefix '\(Checkpoint.reservedTensorPrefix)'")
            }
            try add(name, t)
        }
        for (key, t) in optimizerTensors.sorted(by: { Checkpoint.naturalOrder($0.key, $1.key) }) {
            try add(Checkpoint.optimizerTensorPrefix + key, t)
        }
        return writer
    }

    /// Reads a checkpoint written by `write(gguf:)`: the tensors are fresh f32 copies.
    public init(gguf path: String) throws {
        let file: GGUFFile
        do { file = try GGUFFile(path: path) } catch let e as GGUFError { throw CheckpointError(.file, path: path, e.description, gguf: e) }
        try self.init(gguf: file, path: path)
    }

    /// Reads a checkpoint from an opened GGUF file (`path` names it in errors).
    public init(gguf file: GGUFFile, path: String) throws {
        let m = file.metadata, p = Checkpoint.metadataPrefix
        func fail(_ kind: CheckpointError.Kind, _ message: String) -> CheckpointError {
            CheckpointError(kind, path: path, message)
        }
        guard let stepValue = m[p + "step"] else {
            throw fail(.notACheckpoint, "not a swift-grm checkpoint (no \(p)step metadata)")
        }
        guard let version = m.int(p + "version") else { throw fail(.badMetadata, "\(p)version is missing or not an integer") }
        guard version == Checkpoint.ggufVersion else {
            throw fail(.unsupportedVersion, "checkpoint format version \(version); this build reads version \(Checkpoint.ggufVersion)")
        }
        guard let step = stepValue.intValue, step >= 0 else {
            throw fail(.badMetadata, "\(p)step is \(stepValue.summary), not a non-negative integer")
        }
        self.init(step: step)
        for (key, value) in m.entries where key.hasPrefix(p) {
            let rest = String(key.dropFirst(p.count))
            func int() throws -> Int {
                guard let v = value.intValue else { throw fail(.badMetadata, "\(key) is \(value.summary), not an integer") }
                return v
            }
            if rest == "version" || rest == "step" { continue }
            if rest.hasPrefix("optim.") {
                optimizerCounters[String(rest.dropFirst(6))] = try int()
            } else if rest.hasPrefix("counter.") {
                counters[String(rest.dropFirst(8))] = try int()
            } else if rest.hasPrefix("meta.") {
                guard let s = value.stringValue else { throw fail(.badMetadata, "\(key) is \(value.summary), not a string") }
                metadata[String(rest.dropFirst(5))] = s
            } else {
                throw fail(.badMetadata, "unknown checkpoint metadata key '\(key)'")
            }
        }
        for info in file.tensors {
            guard info.dtype == .f32 else {
                throw fail(.badTensor, "tensor '\(info.name)' is \(info.dtype); checkpoints hold f32 tensors only")
            }
            let t = Tensor.uninitialized(info.shape)
            if info.byteCount > 0 {
                UnsafeMutableRawPointer(t.floatPointer).copyMemory(from: file.data(info).baseAddress!, byteCount: info.byteCount)
            }
            if info.name.hasPrefix(Checkpoint.optimizerTensorPrefix) {
                optimizerTensors[String(info.name.dropFirst(Checkpoint.optimizerTensorPrefix.count))] = t
            } else if info.name.hasPrefix(Checkpoint.reservedTensorPrefix) {
                throw fail(.badTensor, "unknown reserved tensor '\(info.name)'")
            } else {
                parameters[info.name] = t
            }
        }
    }

    /// Orders names with runs of digits compared as numbers ("blk.2" before "blk.10").
    static func naturalOrder(_ a: String, _ b: String) -> Bool {
        var i = a.utf8.makeIterator(), j = b.utf8.makeIterator()
        var x = i.next(), y = j.next()
        func isDigit(_ c: UInt8?) -> Bool { c.map { $0 >= 48 && $0 <= 57 } ?? false }
        while let c = x, let d = y {
            if isDigit(c) && isDigit(d) {
                var m: [UInt8] = [], n: [UInt8] = []
                while isDigit(x) {
                    m.append(x!)
                    x = i.next()
                }
                while isDigit(y) {
                    n.append(y!)
                    y = j.next()
                }
                while m.count > 1 && m[0] == 48 { m.removeFirst() }
                while n.count > 1 && n[0] == 48 { n.removeFirst() }
                if m.count != n.count { return m.count < n.count }
                if m != n { return m.lexicographicallyPrecedes(n) }
                continue
            }
            if c != d { return c < d }
            x = i.next()
            y = j.next()
        }
        return x == nil && y != nil || (x == nil && y == nil && a < b)
    }
}

/// Checkpoints of a training run that resume exactly: the trainable parameters, the optimiser's
/// state and the step, with the run's identity (settings, data fingerprint, base file; string
/// metadata) that a resuming run must match key by key. SFT and reward-model training share it.
extension Checkpoint {
    /// Writes `parameters`, `optimizer`'s state, `step` and `identity` to `path` atomically.
    public static func save(
        to path: String, step: Int, parameters: [Variable], optimizer: Optimizer, identity: [String: String],
        name: String = "swift-grm checkpoint"
    ) throws {
        try Checkpoint(step: step, parameters: parameters, optimizer: optimizer, metadata: identity).write(gguf: path, name: name)
    }

    /// Reads the checkpoint at `path`, refuses it unless every key of `identity` was saved with
    /// the same value (the error names the key and both values) and its step is at most `steps`
    /// (the run's length), then copies the saved values into `parameters` and `optimizer`.
    /// `absentMeans` gives keys added after checkpoints were already being written the value an
    /// older checkpoint without them implies (the setting's behaviour before it existed).
    /// Returns the saved step, from which the run continues.
    public static func resume(
        from path: String, identity: [String: String], absentMeans: [String: String] = [:], parameters: [Variable],
        optimizer: Optimizer, steps: Int
    ) throws -> Int {
        let ck = try Checkpoint(gguf: path)
        for (key, want) in identity.sorted(by: { $0.key < $1.key }) {
            guard let saved = ck.metadata[key] ?? absentMeans[key] else {
                throw CheckpointError(.badMetadata, path: path, "not saved by this kind of run (no \(key))")
            }
            guard saved == want else {
                throw CheckpointError(.badMetadata, path: path, "saved with \(key) = \(saved), this run has \(want)")
            }
        }
        guard ck.step <= steps else {
            throw CheckpointError(.badMetadata, path: path, "saved at step \(ck.step), past this run's \(steps) steps")
        }
        try ck.restore(parameters: parameters, optimizer: optimizer)
        return ck.step
    }
}

/// Why a checkpoint could not be written or read; names the file and the problem.
public struct CheckpointError: Error, CustomStringConvertible {
    public enum Kind: Sendable {
        /// A GGUF file without checkpoint metadata.
        case notACheckpoint
        case unsupportedVersion
        /// A tensor that cannot be saved or restored (type, name, or not the model's).
        case badTensor
        case badMetadata
        /// The file could not be opened, parsed or written (the GGUF error is in `gguf`).
        case file
    }

    public let kind: Kind
    public let path: String
    public let message: String
    public let gguf: GGUFError?

    public init(_ kind: Kind, path: String, _ message: String, gguf: GGUFError? = nil) {
        self.kind = kind
        self.path = path
        self.message = message
        self.gguf = gguf
    }

    public var description: String { "checkpoint \(path): \(message)" }
}
