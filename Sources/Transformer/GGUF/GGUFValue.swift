/// GGUF metadata values: the 13 value types of the format, arrays of any of them (including
/// arrays of strings and arrays of arrays), and an ordered key-value store with typed access.

/// A metadata value type as stored in the file (`enum gguf_type`).
public enum GGUFValueType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Bytes of one value for fixed-size types; nil for strings and arrays.
    public var fixedSize: Int? {
        switch self {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64: return 8
        case .string, .array: return nil
        }
    }

    /// The fewest bytes one value can take in a file (8 for a string's length, 12 for an
    /// array's element type and count), used to bound counts before allocating.
    var minimumSize: Int { fixedSize ?? (self == .string ? 8 : 12) }

    public var description: String {
        switch self {
        case .uint8: return "u8"
        case .int8: return "i8"
        case .uint16: return "u16"
        case .int16: return "i16"
        case .uint32: return "u32"
        case .int32: return "i32"
        case .float32: return "f32"
        case .bool: return "bool"
        case .string: return "string"
        case .array: return "array"
        case .uint64: return "u64"
        case .int64: return "i64"
        case .float64: return "f64"
        }
    }
}

/// One metadata value.
public enum GGUFValue: Equatable, Sendable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool)
    case string(String)
    case array(GGUFArray)

    public var type: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .uint64: return .uint64
        case .int64: return .int64
        case .float32: return .float32
        case .float64: return .float64
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        }
    }

    /// The value as an Int when it is an integer of any width that fits.
    public var intValue: Int? {
        switch self {
        case let .uint8(v): return Int(v)
        case let .int8(v): return Int(v)
        case let .uint16(v): return Int(v)
        case let .int16(v): return Int(v)
        case let .uint32(v): return Int(v)
        case let .int32(v): return Int(v)
        case let .uint64(v): return Int(exactly: v)
        case let .int64(v): return Int(v)
        default: return nil
        }
    }

    /// The value as a Double when it is a float or an integer.
    public var doubleValue: Double? {
        switch self {
        case let .float32(v): return Double(v)
        case let .float64(v): return v
        case let .uint64(v): return Double(v)
        default: return intValue.map(Double.init)
        }
    }

    public var stringValue: String? {
        if case let .string(s) = self { return s }
        return nil
    }

    public var boolValue: Bool? {
        if case let .bool(b) = self { return b }
        return nil
    }

    public var arrayValue: GGUFArray? {
        if case let .array(a) = self { return a }
        return nil
    }
}

/// A homogeneous array value. Numeric arrays keep their element type (a vocabulary's scores,
/// token types); `.array` holds arrays of arrays, each with its own element type.
public enum GGUFArray: Equatable, Sendable {
    case uint8([UInt8]), int8([Int8]), uint16([UInt16]), int16([Int16]), uint32([UInt32]), int32([Int32])
    case uint64([UInt64]), int64([Int64]), float32([Float]), float64([Double]), bool([Bool])
    case string([String])
    case array([GGUFArray])

    public var elementType: GGUFValueType {
        switch self {
        case .uint8: return .uint8
        case .int8: return .int8
        case .uint16: return .uint16
        case .int16: return .int16
        case .uint32: return .uint32
        case .int32: return .int32
        case .uint64: return .uint64
        case .int64: return .int64
        case .float32: return .float32
        case .float64: return .float64
        case .bool: return .bool
        case .string: return .string
        case .array: return .array
        }
    }

    public var count: Int {
        switch self {
        case let .uint8(a): return a.count
        case let .int8(a): return a.count
        case let .uint16(a): return a.count
        case let .int16(a): return a.count
        case let .uint32(a): return a.count
        case let .int32(a): return a.count
        case let .uint64(a): return a.count
        case let .int64(a): return a.count
        case let .float32(a): return a.count
        case let .float64(a): return a.count
        case let .bool(a): return a.count
        case let .string(a): return a.count
        case let .array(a): return a.count
        }
    }

    /// Element `i` as a scalar value (nested arrays as `.array`).
    public subscript(i: Int) -> GGUFValue {
        switch self {
        case let .uint8(a): return .uint8(a[i])
        case let .int8(a): return .int8(a[i])
        case let .uint16(a): return .uint16(a[i])
        case let .int16(a): return .int16(a[i])
        case let .uint32(a): return .uint32(a[i])
        case let .int32(a): return .int32(a[i])
        case let .uint64(a): return .uint64(a[i])
        case let .int64(a): return .int64(a[i])
        case let .float32(a): return .float32(a[i])
        case let .float64(a): return .float64(a[i])
        case let .bool(a): return .bool(a[i])
        case let .string(a): return .string(a[i])
        case let .array(a): return .array(a[i])
        }
    }

    /// The elements as Ints when they are integers of any width (nil if one does not fit).
    public var ints: [Int]? {
        switch self {
        case let .uint8(a): return a.map(Int.init)
        case let .int8(a): return a.map(Int.init)
        case let .uint16(a): return a.map(Int.init)
        case let .int16(a): return a.map(Int.init)
        case let .uint32(a): return a.map(Int.init)
        case let .int32(a): return a.map(Int.init)
        case let .int64(a): return a.map(Int.init)
        case let .uint64(a):
            var out: [Int] = []
            out.reserveCapacity(a.count)
            for v in a {
                guard let i = Int(exactly: v) else { return nil }
                out.append(i)
            }
            return out
        default: return nil
        }
    }

    /// The elements as Floats when they are floats or integers.
    public var floats: [Float]? {
        switch self {
        case let .float32(a): return a
        case let .float64(a): return a.map(Float.init)
        default: return ints?.map(Float.init)
        }
    }

    public var strings: [String]? {
        if case let .string(a) = self { return a }
        return nil
    }
}

/// The key-value metadata of a GGUF file, in file order, with typed lookups.
///
/// The plain accessors (`int`, `float`, `string`, ...) return nil when the key is absent or holds
/// another type; the `require` forms throw a `GGUFError` naming the key and what was found.
public struct GGUFMetadata: Equatable, Sendable {
    public private(set) var entries: [(key: String, value: GGUFValue)] = []
    private var index: [String: Int] = [:]

    public init() {}

    public init(_ pairs: [(String, GGUFValue)]) {
        for (k, v) in pairs { self[k] = v }
    }

    public var count: Int { entries.count }
    public var keys: [String] { entries.map(\.key) }
    public func contains(_ key: String) -> Bool { index[key] != nil }

    /// The value for `key`; assigning replaces it in place or appends it (nil removes it).
    public subscript(key: String) -> GGUFValue? {
        get { index[key].map { entries[$0].value } }
        set {
            if let i = index[key] {
                if let v = newValue {
                    entries[i].value = v
                } else {
                    entries.remove(at: i)
                    index = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.key, $0) })
                }
            } else if let v = newValue {
                index[key] = entries.count
                entries.append((key, v))
            }
        }
    }

    public func int(_ key: String) -> Int? { self[key]?.intValue }
    public func double(_ key: String) -> Double? { self[key]?.doubleValue }
    public func float(_ key: String) -> Float? { self[key]?.doubleValue.map(Float.init) }
    public func string(_ key: String) -> String? { self[key]?.stringValue }
    public func bool(_ key: String) -> Bool? { self[key]?.boolValue }
    public func array(_ key: String) -> GGUFArray? { self[key]?.arrayValue }
    public func strings(_ key: String) -> [String]? { array(key)?.strings }
    public func ints(_ key: String) -> [Int]? { array(key)?.ints }
    public func floats(_ key: String) -> [Float]? { array(key)?.floats }

    public func requireInt(_ key: String) throws -> Int { try require(key, "an integer", \.intValue) }
    public func requireFloat(_ key: String) throws -> Float {
        Float(try require(key, "a number", \.doubleValue))
    }
    public func requireString(_ key: String) throws -> String { try require(key, "a string", \.stringValue) }
    public func requireBool(_ key: String) throws -> Bool { try require(key, "a bool", \.boolValue) }
    public func requireStrings(_ key: String) throws -> [String] {
        try require(key, "an array of strings", { $0.arrayValue?.strings })
    }
    public func requireInts(_ key: String) throws -> [Int] {
        try require(key, "an array of integers", { $0.arrayValue?.ints })
    }
    public func requireFloats(_ key: String) throws -> [Float] {
        try require(key, "an array of numbers", { $0.arrayValue?.floats })
    }

    private func require<T>(_ key: String, _ what: String, _ get: (GGUFValue) -> T?) throws -> T {
        guard let v = self[key] else { throw GGUFError(.missingKey, "metadata key '\(key)' is missing") }
        guard let t = get(v) else {
            throw GGUFError(.typeMismatch, "metadata key '\(key)' holds \(v.summary) where \(what) is expected")
        }
        return t
    }

    public static func == (a: GGUFMetadata, b: GGUFMetadata) -> Bool {
        a.entries.count == b.entries.count && zip(a.entries, b.entries).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }
}

extension GGUFValue {
    /// A short human-readable rendering: scalars in full, strings quoted (long ones cut), arrays
    /// as their type, length and first few elements.
    public var summary: String { summary(maxItems: 8) }

    public func summary(maxItems: Int) -> String {
        switch self {
        case let .string(s):
            let cut = s.count > 120 ? String(s.prefix(117)) + "..." : s
            return "\"" + cut.replacingOccurrences(of: "\n", with: "\\n") + "\""
        case let .array(a):
            let shown = (0..<min(a.count, maxItems)).map { a[$0].summary(maxItems: 3) }
            let more = a.count > maxItems ? ", ... (\(a.count - maxItems) more)" : ""
            return "[\(a.elementType) x \(a.count)] [" + shown.joined(separator: ", ") + more + "]"
        case let .bool(b): return b ? "true" : "false"
        case let .float32(f): return "\(f)"
        case let .float64(f): return "\(f)"
        default:
            return intValue.map { "\($0)" }
                ?? {
                    if case let .uint64(v) = self { return "\(v)" }
                    return "?"
                }()
        }
    }
}
