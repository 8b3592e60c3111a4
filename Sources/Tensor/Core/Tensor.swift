/// An n-dimensional array: a view (shape, strides, offset) over reference-counted storage.
///
/// Views (reshape, transpose, permute, slice, broadcast) share storage and copy nothing; strides
/// may be zero (broadcast) and need not be increasing (transpose). `contiguous()` copies only when
/// the layout requires it. Tensors are values: operations return new tensors and never write into
/// their inputs, except the explicit in-place kernels.
public struct Tensor: @unchecked Sendable {
    public let storage: Storage
    public let dtype: DType
    public let shape: [Int]
    /// Strides in elements, one per axis.
    public let strides: [Int]
    /// Offset of element [0, 0, ...] from the start of storage, in elements.
    public let offset: Int

    public init(storage: Storage, dtype: DType, shape: [Int], strides: [Int], offset: Int = 0) {
        self.storage = storage
        self.dtype = dtype
        self.shape = shape
        self.strides = strides
        self.offset = offset
    }

    // MARK: Creation

    /// A contiguous tensor of zeros.
    public init(zeros shape: [Int], dtype: DType = .f32) {
        let n = shape.reduce(1, *)
        self.init(
            storage: Storage(byteCount: dtype.byteCount(elements: n)), dtype: dtype,
            shape: shape, strides: Tensor.contiguousStrides(shape))
    }

    /// A contiguous tensor whose contents the caller must write in full before reading.
    public static func uninitialized(_ shape: [Int], dtype: DType = .f32) -> Tensor {
        let n = shape.reduce(1, *)
        return Tensor(
            storage: Storage(uninitializedByteCount: dtype.byteCount(elements: n)), dtype: dtype,
            shape: shape, strides: contiguousStrides(shape))
    }

    /// An f32 tensor from row-major values.
    public init(shape: [Int], scalars: [Float]) throws {
        let n = shape.reduce(1, *)
        guard shape.allSatisfy({ $0 >= 0 }), n == scalars.count else {
            throw TensorError.invalidShape(
                op: "Tensor(shape:scalars:)", shape: shape,
                reason: "holds \(n) elements but \(scalars.count) values were given")
        }
        self = Tensor.uninitialized(shape)
        let p = storage.floats()
        scalars.withUnsafeBufferPointer { src in
            if n > 0 { p.update(from: src.baseAddress!, count: n) }
        }
    }

    /// An i32 tensor (token ids, indices) from row-major values.
    public init(shape: [Int], int32s: [Int32]) throws {
        let n = shape.reduce(1, *)
        guard shape.allSatisfy({ $0 >= 0 }), n == int32s.count else {
            throw TensorError.invalidShape(
                op: "Tensor(shape:int32s:)", shape: shape,
                reason: "holds \(n) elements but \(int32s.count) values were given")
        }
        self = Tensor.uninitialized(shape, dtype: .i32)
        let p = storage.base.assumingMemoryBound(to: Int32.self)
        int32s.withUnsafeBufferPointer { src in
            if n > 0 { p.update(from: src.baseAddress!, count: n) }
        }
    }

    /// An f32 tensor with every element equal to `value`.
    public init(shape: [Int], repeating value: Float) {
        self = Tensor.uninitialized(shape)
        storage.floats().update(repeating: value, count: count)
    }

    /// A scalar (rank 0) f32 tensor.
    public init(_ value: Float) {
        self.init(shape: [], repeating: value)
    }

    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var s = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[i] = s
            s *= shape[i]
        }
        return strides
    }

    // MARK: Properties

    public var rank: Int { shape.count }
    public var count: Int { shape.reduce(1, *) }

    /// True when the elements lie row-major and densely from `offset` on.
    public var isContiguous: Bool {
        var expected = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) where shape[i] != 1 {
            if strides[i] != expected { return false }
            expected *= shape[i]
        }
        return true
    }

    /// Pointer to element [0, 0, ...] of an f32 tensor.
    @inline(__always) public var floatPointer: UnsafeMutablePointer<Float> {
        storage.floats() + offset
    }

    /// Pointer to element [0, 0, ...] of an i32 tensor.
    @inline(__always) public var int32Pointer: UnsafeMutablePointer<Int32> {
        storage.base.assumingMemoryBound(to: Int32.self) + offset
    }

    /// Pointer to element [0, 0, ...] of a 16-bit tensor (f16 or bf16), as raw bits.
    @inline(__always) public var uint16Pointer: UnsafeMutablePointer<UInt16> {
        storage.base.assumingMemoryBound(to: UInt16.self) + offset
    }

    /// Normalises a possibly negative axis, or throws naming the op.
    public func axis(_ a: Int, op: String) throws -> Int {
        let r = a < 0 ? a + rank : a
        guard r >= 0 && r < rank else {
            throw TensorError.invalidShape(op: op, shape: shape, reason: "axis \(a) is out of range for rank \(rank)")
        }
        return r
    }

    // MARK: Element access (for tests and small tools; kernels use pointers)

    /// The elements in row-major order, converted to Float.
    public func scalars() -> [Float] {
        let c = (dtype == .f32 ? self : self.converted(to: .f32)).contiguous()
        return Array(UnsafeBufferPointer(start: c.floatPointer, count: c.count))
    }

    /// The elements of an i32 tensor in row-major order.
    public func int32s() -> [Int32] {
        precondition(dtype == .i32, "int32s() on a \(dtype) tensor")
        let c = contiguous()
        return Array(UnsafeBufferPointer(start: c.int32Pointer, count: c.count))
    }

    /// The element at a multi-index, converted to Float.
    public subscript(_ index: Int...) -> Float {
        precondition(index.count == rank, "subscript with \(index.count) indices on shape \(shape)")
        var o = offset
        for (i, (ix, n)) in zip(index, shape).enumerated() {
            precondition(ix >= 0 && ix < n, "index \(index) out of range for shape \(shape)")
            o += ix * strides[i]
        }
        switch dtype {
        case .f32: return storage.floats()[o]
        case .f16: return Half.toFloat(storage.base.assumingMemoryBound(to: UInt16.self)[o])
        case .bf16: return BFloat.toFloat(storage.base.assumingMemoryBound(to: UInt16.self)[o])
        case .i32: return Float(storage.base.assumingMemoryBound(to: Int32.self)[o])
        default:
            // Block type: dequantise the block that holds element o.
            let qk = dtype.blockElements
            var block = [Float](repeating: 0, count: qk)
            block.withUnsafeMutableBufferPointer {
                Quant.dequantize(dtype, storage.base + (o / qk) * dtype.blockBytes, $0.baseAddress!, count: qk)
            }
            return block[o % qk]
        }
    }
}

extension Tensor: CustomStringConvertible {
    public var description: String {
        let n = count
        let head = n <= 8 ? scalars() : Array(scalars().prefix(8))
        let values = head.map { "\($0)" }.joined(separator: ", ")
        return "Tensor<\(dtype)>\(shape)[\(values)\(n > 8 ? ", ..." : "")]"
    }
}
