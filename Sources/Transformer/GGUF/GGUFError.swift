/// Why a GGUF file could not be read or written. Every error names the problem and, where it has
/// one, the byte offset in the file or the tensor concerned.
public struct GGUFError: Error, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case io, badMagic, unsupportedVersion, truncated, tooLarge, invalidValue
        case unknownValueType, unknownTensorType, duplicateKey, duplicateTensor
        case badShape, outOfBounds, misaligned, overflow, missingKey, typeMismatch, missingTensor
    }

    public let kind: Kind
    public let message: String
    /// Byte offset in the file where the problem was found.
    public let offset: Int?
    /// The tensor concerned, if any.
    public let tensor: String?

    public init(_ kind: Kind, _ message: String, offset: Int? = nil, tensor: String? = nil) {
        self.kind = kind
        self.message = message
        self.offset = offset
        self.tensor = tensor
    }

    public var description: String {
        var s = "GGUF: " + message
        if let tensor { s += " (tensor '\(tensor)')" }
        if let offset { s += " (at byte \(offset))" }
        return s
    }
}
