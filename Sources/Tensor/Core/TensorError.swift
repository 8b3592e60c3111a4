/// Errors from tensor operations. Every message names the operation and the shapes involved.
public enum TensorError: Error, Equatable, CustomStringConvertible {
    /// Two operands whose shapes do not fit together.
    case shapeMismatch(op: String, lhs: [Int], rhs: [Int], reason: String)
    /// A shape, axis or argument that is invalid on its own.
    case invalidShape(op: String, shape: [Int], reason: String)
    /// An element type the operation does not take.
    case unsupportedType(op: String, dtype: DType, reason: String)

    public var description: String {
        switch self {
        case let .shapeMismatch(op, lhs, rhs, reason):
            return "\(op): shapes \(lhs) and \(rhs) do not fit: \(reason)"
        case let .invalidShape(op, shape, reason):
            return "\(op): invalid for shape \(shape): \(reason)"
        case let .unsupportedType(op, dtype, reason):
            return "\(op): element type \(dtype) not supported: \(reason)"
        }
    }
}

extension TensorError: CustomDebugStringConvertible {
    public var debugDescription: String { description }
}
