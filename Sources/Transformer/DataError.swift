/// A problem with data read from a file (training examples, reward items): where (file and
/// 1-based line, when known) and what, printed as `FILE:LINE: reason`.
public struct DataError: Error, CustomStringConvertible, Equatable, Sendable {
    public var file: String?
    public var line: Int?
    public var reason: String

    public init(file: String? = nil, line: Int? = nil, _ reason: String) {
        self.file = file
        self.line = line
        self.reason = reason
    }

    public var description: String {
        switch (file, line) {
        case let (f?, l?): return "\(f):\(l): \(reason)"
        case let (nil, l?): return "line \(l): \(reason)"
        case let (f?, nil): return "\(f): \(reason)"
        case (nil, nil): return reason
        }
    }
}
