import Tensor

/// One tensor's entry in a GGUF file.
public struct GGUFTensorInfo: Equatable, Sendable {
    public let name: String
    public let dtype: DType
    /// ggml's `ne`: dims[0] is the contiguous (innermost) dimension.
    public let dims: [Int]
    /// Offset of the data from the start of the data section.
    public let offset: Int
    /// Offset of the data from the start of the file.
    public let fileOffset: Int
    public let byteCount: Int

    /// The row-major shape (`dims` reversed): a weight {n_in, n_out} is [n_out, n_in].
    public var shape: [Int] { dims.reversed() }
    public var elementCount: Int { dims.reduce(1, *) }
}

/// A GGUF file (versions 2 and 3), memory-mapped and validated when opened.
///
/// Opening parses the header, the metadata and the tensor table and checks everything a reader
/// relies on: magic and version, every length and count against the file's size, value and
/// tensor types, unique keys and names, shapes (ne[0] a multiple of the block size, no overflow
/// in elements x type size), and that each tensor's data is aligned and lies inside the file.
/// Any problem throws a `GGUFError` naming it with its byte offset or tensor; nothing reads out
/// of bounds. Tensors are then zero-copy views over the mapping.
public final class GGUFFile: @unchecked Sendable {
    public static let magic: UInt32 = 0x4655_4747  // "GGUF" little-endian
    public static let defaultAlignment = 32
    /// ggml's GGML_MAX_DIMS.
    public static let maxDims = 4

    public let version: UInt32
    public let metadata: GGUFMetadata
    /// Tensors in file order.
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    /// Start of the data section (a multiple of `alignment`).
    public let dataOffset: Int
    public let bytes: GGUFBytes
    private let byName: [String: Int]

    /// Maps and validates the file at `path`.
    public convenience init(path: String) throws {
        try self.init(bytes: GGUFBytes.map(path: path))
    }

    /// Validates an in-memory file.
    public convenience init(contents: [UInt8]) throws {
        try self.init(bytes: GGUFBytes.copy(contents))
    }

    public init(bytes: GGUFBytes) throws {
        self.bytes = bytes
        var c = GGUFCursor(bytes.base, count: bytes.count)
        let magic = try c.u32("the magic number")
        guard magic == GGUFFile.magic else {
            throw GGUFError(
                .badMagic, "not a GGUF file: magic is 0x\(String(magic, radix: 16)), expected 0x46554747 (\"GGUF\")",
                offset: 0)
        }
        version = try c.u32("the version")
        guard version == 2 || version == 3 else {
            throw GGUFError(.unsupportedVersion, "unsupported GGUF version \(version) (2 and 3 are supported)", offset: 4)
        }
        // A tensor info takes at least 8 (name) + 4 (n_dims) + 4 (type) + 8 (offset) bytes, a
        // key-value pair at least 8 (key) + 4 (type) + 1 (value) bytes.
        let tensorCount = try c.count("tensor count", minSize: 24)
        let kvCount = try c.count("metadata count", minSize: 13)

        var meta = GGUFMetadata()
        for i in 0..<kvCount {
            let at = c.position
            let key = try c.string("key of metadata entry \(i)")
            guard !meta.contains(key) else {
                throw GGUFError(.duplicateKey, "metadata key '\(key)' appears twice", offset: at)
            }
            let type = try c.valueType("metadata '\(key)'")
            meta[key] = try c.value(type, "metadata '\(key)'")
        }
        metadata = meta

        var align = GGUFFile.defaultAlignment
        if let v = meta["general.alignment"] {
            guard let a = v.intValue, a > 0, a & (a - 1) == 0, a <= 1 << 30 else {
                throw GGUFError(.invalidValue, "general.alignment is \(v.summary), not a power of two up to 2^30")
            }
            align = a
        }
        alignment = align

        var infos: [(name: String, dtype: DType, dims: [Int], offset: UInt64, at: Int)] = []
        infos.reserveCapacity(tensorCount)
        var seen: [String: Int] = [:]
        for i in 0..<tensorCount {
            let at = c.position
            let name = try c.string("name of tensor \(i)")
            guard seen[name] == nil else {
                throw GGUFError(.duplicateTensor, "tensor name '\(name)' appears twice", offset: at, tensor: name)
            }
            seen[name] = i
            let nDimsAt = c.position
            let nDims = try c.u32("dimension count of tensor '\(name)'")
            guard nDims <= GGUFFile.maxDims else {
                throw GGUFError(
                    .badShape, "tensor has \(nDims) dimensions (at most \(GGUFFile.maxDims))",
                    offset: nDimsAt, tensor: name)
            }
            var dims: [Int] = []
            for d in 0..<Int(nDims) {
                let dimAt = c.position
                let n = try c.i64("dimension \(d) of tensor '\(name)'")
                guard n >= 0 else {
                    throw GGUFError(.badShape, "dimension \(d) is negative (\(n))", offset: dimAt, tensor: name)
                }
                dims.append(Int(n))
            }
            let typeAt = c.position
            let rawType = try c.u32("type of tensor '\(name)'")
            guard let dtype = DType(ggmlType: rawType) else {
                throw GGUFError(
                    .unknownTensorType, "unknown or unsupported ggml tensor type \(rawType)",
                    offset: typeAt, tensor: name)
            }
            let offset = try c.u64("data offset of tensor '\(name)'")
            infos.append((name, dtype, dims, offset, at))
        }

        let (start, overflow) = c.position.addingReportingOverflow(align - 1)
        guard !overflow else { throw GGUFError(.overflow, "data section offset overflows", offset: c.position) }
        dataOffset = start & ~(align - 1)
        let dataSize = max(0, bytes.count - dataOffset)

        var list: [GGUFTensorInfo] = []
        list.reserveCapacity(infos.count)
        for t in infos {
            let size = try GGUFFile.byteCount(dims: t.dims, dtype: t.dtype, name: t.name, at: t.at)
            guard t.offset % UInt64(align) == 0 else {
                throw GGUFError(
                    .misaligned, "data offset \(t.offset) is not a multiple of the alignment \(align)",
                    offset: t.at, tensor: t.name)
            }
            guard t.offset <= UInt64(dataSize), size <= dataSize - Int(t.offset) else {
                throw GGUFError(
                    .outOfBounds,
                    "data (\(size) bytes at data offset \(t.offset)) extends past the end of the file "
                        + "(data section of \(dataSize) bytes at byte \(dataOffset))",
                    offset: t.at, tensor: t.name)
            }
            let fileOffset = dataOffset + Int(t.offset)
            // Element alignment for typed access (only an issue with general.alignment < 4).
            let natural = t.dtype.blockBytes % 4 == 0 ? 4 : 2
            guard fileOffset % natural == 0 else {
                throw GGUFError(
                    .misaligned, "data at byte \(fileOffset) is not aligned to \(natural) bytes for \(t.dtype)",
                    offset: t.at, tensor: t.name)
            }
            list.append(
                GGUFTensorInfo(
                    name: t.name, dtype: t.dtype, dims: t.dims, offset: Int(t.offset),
                    fileOffset: fileOffset, byteCount: size))
        }
        tensors = list
        byName = seen
    }

    /// Bytes of a tensor of `dims` and `dtype`, checking the block size and overflow.
    static func byteCount(dims: [Int], dtype: DType, name: String, at: Int?) throws -> Int {
        if let first = dims.first, first % dtype.blockElements != 0 {
            throw GGUFError(
                .badShape, "ne[0] = \(first) is not a multiple of the \(dtype.ggmlName) block size \(dtype.blockElements)",
                offset: at, tensor: name)
        }
        var elements = 1
        for d in dims {
            let (p, o) = elements.multipliedReportingOverflow(by: d)
            guard !o else {
                throw GGUFError(.overflow, "element count of shape \(dims) overflows", offset: at, tensor: name)
            }
            elements = p
        }
        let (size, o) = (elements / dtype.blockElements).multipliedReportingOverflow(by: dtype.blockBytes)
        guard !o else {
            throw GGUFError(.overflow, "byte size of shape \(dims) as \(dtype.ggmlName) overflows", offset: at, tensor: name)
        }
        return size
    }

    public func info(_ name: String) -> GGUFTensorInfo? { byName[name].map { tensors[$0] } }

    /// The tensor `name` as a zero-copy view over the file (row-major shape, `dims` reversed).
    /// The view keeps the mapping alive.
    public func tensor(_ name: String) throws -> Tensor {
        guard let info = info(name) else { throw GGUFError(.missingTensor, "no tensor named '\(name)'", tensor: name) }
        return tensor(info)
    }

    public func tensor(_ info: GGUFTensorInfo) -> Tensor {
        let storage = Storage(
            borrowing: UnsafeMutableRawPointer(mutating: bytes.base + info.fileOffset),
            byteCount: info.byteCount, owner: bytes)
        let shape = info.shape
        return Tensor(storage: storage, dtype: info.dtype, shape: shape, strides: Tensor.contiguousStrides(shape))
    }

    /// The raw stored bytes of a tensor.
    public func data(_ info: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: bytes.base + info.fileOffset, count: info.byteCount)
    }
}
