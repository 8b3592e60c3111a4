/// Bounds-checked little-endian reading of a GGUF header from a byte buffer. Every read checks
/// the remaining length first; every count is checked against the bytes that remain before
/// anything is allocated, so a corrupt header can neither read out of bounds nor request more
/// memory than a small multiple of the file's size.
struct GGUFCursor {
    let base: UnsafeRawPointer
    let count: Int
    var position = 0

    init(_ base: UnsafeRawPointer, count: Int) {
        self.base = base
        self.count = count
    }

    var remaining: Int { count - position }

    mutating func need(_ n: Int, _ what: @autoclosure () -> String) throws {
        guard n >= 0, n <= remaining else {
            throw GGUFError(
                .truncated, "file ends inside \(what()) (needs \(n) bytes, \(max(remaining, 0)) left)",
                offset: position)
        }
    }

    mutating func scalar<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws -> T {
        try need(MemoryLayout<T>.size, what())
        let v = T(littleEndian: base.loadUnaligned(fromByteOffset: position, as: T.self))
        position += MemoryLayout<T>.size
        return v
    }

    mutating func u8(_ what: @autoclosure () -> String) throws -> UInt8 { try scalar(UInt8.self, what()) }
    mutating func u32(_ what: @autoclosure () -> String) throws -> UInt32 { try scalar(UInt32.self, what()) }
    mutating func u64(_ what: @autoclosure () -> String) throws -> UInt64 { try scalar(UInt64.self, what()) }
    mutating func i64(_ what: @autoclosure () -> String) throws -> Int64 { try scalar(Int64.self, what()) }

    /// A count of items that take at least `minSize` bytes each: must fit in what remains.
    mutating func count(_ what: String, minSize: Int) throws -> Int {
        let at = position
        let n = try u64(what)
        guard n <= UInt64(remaining / max(minSize, 1)) else {
            throw GGUFError(.tooLarge, "\(what) \(n) cannot fit in the \(remaining) bytes that remain", offset: at)
        }
        return Int(n)
    }

    mutating func string(_ what: @autoclosure () -> String) throws -> String {
        let at = position
        let n = try u64("length of \(what())")
        guard n <= UInt64(remaining) else {
            throw GGUFError(.truncated, "\(what()) has length \(n) but only \(remaining) bytes remain", offset: at)
        }
        let s = String(decoding: UnsafeRawBufferPointer(start: base + position, count: Int(n)), as: UTF8.self)
        position += Int(n)
        return s
    }

    /// `n` fixed-size little-endian values.
    mutating func array<T: FixedWidthInteger>(_: T.Type, _ n: Int, _ what: String) throws -> [T] {
        try need(n * MemoryLayout<T>.size, what)
        let start = base + position
        position += n * MemoryLayout<T>.size
        return (0..<n).map { T(littleEndian: start.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)) }
    }

    mutating func valueType(_ what: String) throws -> GGUFValueType {
        let at = position
        let raw = try u32(what)
        guard let t = GGUFValueType(rawValue: raw) else {
            throw GGUFError(.unknownValueType, "unknown value type \(raw) for \(what)", offset: at)
        }
        return t
    }

    /// Nesting limit for arrays of arrays (the format has none; this bounds recursion).
    static let maxDepth = 16

    mutating func value(_ type: GGUFValueType, _ what: String, depth: Int = 0) throws -> GGUFValue {
        switch type {
        case .uint8: return .uint8(try u8(what))
        case .int8: return .int8(Int8(bitPattern: try u8(what)))
        case .uint16: return .uint16(try scalar(UInt16.self, what))
        case .int16: return .int16(try scalar(Int16.self, what))
        case .uint32: return .uint32(try u32(what))
        case .int32: return .int32(try scalar(Int32.self, what))
        case .uint64: return .uint64(try u64(what))
        case .int64: return .int64(try i64(what))
        case .float32: return .float32(Float(bitPattern: try u32(what)))
        case .float64: return .float64(Double(bitPattern: try u64(what)))
        case .bool: return .bool(try bool(what))
        case .string: return .string(try string(what))
        case .array: return .array(try array(what, depth: depth))
        }
    }

    mutating func bool(_ what: @autoclosure () -> String) throws -> Bool {
        let at = position
        let b = try u8(what())
        guard b <= 1 else { throw GGUFError(.invalidValue, "\(what()) is a bool with byte value \(b)", offset: at) }
        return b == 1
    }

    mutating func array(_ what: String, depth: Int) throws -> GGUFArray {
        let at = position
        guard depth < GGUFCursor.maxDepth else {
            throw GGUFError(.tooLarge, "\(what) nests arrays deeper than \(GGUFCursor.maxDepth)", offset: at)
        }
        let type = try valueType("element type of \(what)")
        let n = try count("element count of \(what)", minSize: type.minimumSize)
        switch type {
        case .uint8: return .uint8(try array(UInt8.self, n, what))
        case .int8: return .int8(try array(Int8.self, n, what))
        case .uint16: return .uint16(try array(UInt16.self, n, what))
        case .int16: return .int16(try array(Int16.self, n, what))
        case .uint32: return .uint32(try array(UInt32.self, n, what))
        case .int32: return .int32(try array(Int32.self, n, what))
        case .uint64: return .uint64(try array(UInt64.self, n, what))
        case .int64: return .int64(try array(Int64.self, n, what))
        case .float32: return .float32(try array(UInt32.self, n, what).map(Float.init(bitPattern:)))
        case .float64: return .float64(try array(UInt64.self, n, what).map(Double.init(bitPattern:)))
        case .bool:
            var out: [Bool] = []
            out.reserveCapacity(n)
            for i in 0..<n { out.append(try bool("\(what)[\(i)]")) }
            return .bool(out)
        case .string:
            var out: [String] = []
            out.reserveCapacity(n)
            for i in 0..<n { out.append(try string("\(what)[\(i)]")) }
            return .string(out)
        case .array:
            var out: [GGUFArray] = []
            out.reserveCapacity(n)
            for i in 0..<n { out.append(try array("\(what)[\(i)]", depth: depth + 1)) }
            return .array(out)
        }
    }
}
