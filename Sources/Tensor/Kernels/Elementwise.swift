/// Elementwise arithmetic with NumPy broadcasting, and unary activation functions.
///
/// Each op is a small function type whose SIMD body is specialised into one loop. Inputs may be
/// any strided or broadcast view; outputs are contiguous. Strided inputs are gathered into the same
/// vector code, so a view and its contiguous copy give bit-identical results.

/// A binary function on vectors.
public protocol BinaryFunction {
    static var name: String { get }
    static func apply(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float>
}

/// A unary function on vectors (a value, so it can carry parameters such as a scale).
public protocol UnaryFunction {
    var name: String { get }
    func apply(_ x: SIMD16<Float>) -> SIMD16<Float>
}

public enum Add: BinaryFunction {
    public static let name = "add"
    @inline(__always) public static func apply(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { a + b }
}
public enum Sub: BinaryFunction {
    public static let name = "sub"
    @inline(__always) public static func apply(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { a - b }
}
public enum Mul: BinaryFunction {
    public static let name = "mul"
    @inline(__always) public static func apply(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { a * b }
}
public enum Div: BinaryFunction {
    public static let name = "div"
    @inline(__always) public static func apply(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> { a / b }
}

public struct Scale: UnaryFunction {
    public var factor: Float
    public init(_ factor: Float) { self.factor = factor }
    public var name: String { "scale" }
    @inline(__always) public func apply(_ x: SIMD16<Float>) -> SIMD16<Float> { x * factor }
}
public struct Exp: UnaryFunction {
    public init() {}
    public var name: String { "exp" }
    @inline(__always) public func apply(_ x: SIMD16<Float>) -> SIMD16<Float> { VectorMath.exp(x) }
}
public struct SiLU: UnaryFunction {
    public init() {}
    public var name: String { "silu" }
    @inline(__always) public func apply(_ x: SIMD16<Float>) -> SIMD16<Float> { VectorMath.silu(x) }
}
public struct GELU: UnaryFunction {
    public init() {}
    public var name: String { "gelu" }
    @inline(__always) public func apply(_ x: SIMD16<Float>) -> SIMD16<Float> { VectorMath.gelu(x) }
}
public struct Sigmoid: UnaryFunction {
    public init() {}
    public var name: String { "sigmoid" }
    @inline(__always) public func apply(_ x: SIMD16<Float>) -> SIMD16<Float> { VectorMath.sigmoid(x) }
}
public struct Negate: UnaryFunction {
    public init() {}
    public var name: String { "neg" }
    @inline(__always) public func apply(_ x: SIMD16<Float>) -> SIMD16<Float> { -x }
}

extension Tensor {
    /// Applies `F` elementwise to broadcast operands, into a new contiguous tensor.
    public static func binary<F: BinaryFunction>(_ f: F.Type, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        try a.requireFloat32(F.name)
        try b.requireFloat32(F.name)
        let shape = try Tensor.broadcastShape(a.shape, b.shape, op: F.name)
        let av = try a.broadcast(to: shape), bv = try b.broadcast(to: shape)
        let out = Tensor.uninitialized(shape)
        let layout = Layout(shape: shape, strides: [out.strides, av.strides, bv.strides])
        let sa = layout.innerStride(1), sb = layout.innerStride(2)
        let po = out.floatPointer, pa = av.floatPointer, pb = bv.floatPointer
        layout.forEachSegment { row, lo, hi in
            let o = po + layout.rowOffset(row, operand: 0)
            let x = pa + layout.rowOffset(row, operand: 1)
            let y = pb + layout.rowOffset(row, operand: 2)
            var i = lo
            if sa == 1 && sb == 1 {
                while i + 16 <= hi {
                    let v = F.apply(UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self),
                                    UnsafeRawPointer(y + i).loadUnaligned(as: SIMD16<Float>.self))
                    UnsafeMutableRawPointer(o + i).storeBytes(of: v, as: SIMD16<Float>.self)
                    i += 16
                }
            } else if sa == 1 && sb == 0 {
                let s = SIMD16<Float>(repeating: y[0])
                while i + 16 <= hi {
                    let v = F.apply(UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self), s)
                    UnsafeMutableRawPointer(o + i).storeBytes(of: v, as: SIMD16<Float>.self)
                    i += 16
                }
            } else if sa == 0 && sb == 1 {
                let s = SIMD16<Float>(repeating: x[0])
                while i + 16 <= hi {
                    let v = F.apply(s, UnsafeRawPointer(y + i).loadUnaligned(as: SIMD16<Float>.self))
                    UnsafeMutableRawPointer(o + i).storeBytes(of: v, as: SIMD16<Float>.self)
                    i += 16
                }
            }
            while i < hi {
                let n = Swift.min(16, hi - i)
                let v = F.apply(load16(x + i * sa, stride: sa, count: n, fill: 1),
                                load16(y + i * sb, stride: sb, count: n, fill: 1))
                store16(v, o + i, count: n)
                i += n
            }
        }
        return out
    }

    /// Applies `f` elementwise, into a new contiguous tensor.
    public func map<F: UnaryFunction>(_ f: F) throws -> Tensor {
        try requireFloat32(f.name)
        let out = Tensor.uninitialized(shape)
        let layout = Layout(shape: shape, strides: [out.strides, strides])
        let s = layout.innerStride(1)
        let po = out.floatPointer, px = floatPointer
        layout.forEachSegment { row, lo, hi in
            let o = po + layout.rowOffset(row, operand: 0)
            let x = px + layout.rowOffset(row, operand: 1)
            var i = lo
            if s == 1 {
                while i + 16 <= hi {
                    let v = f.apply(UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self))
                    UnsafeMutableRawPointer(o + i).storeBytes(of: v, as: SIMD16<Float>.self)
                    i += 16
                }
            }
            while i < hi {
                let n = Swift.min(16, hi - i)
                store16(f.apply(load16(x + i * s, stride: s, count: n)), o + i, count: n)
                i += n
            }
        }
        return out
    }

    func requireFloat32(_ op: String) throws {
        guard dtype == .f32 else {
            throw TensorError.unsupportedType(op: op, dtype: dtype, reason: "compute ops take f32; convert with converted(to: .f32)")
        }
    }

    public func adding(_ other: Tensor) throws -> Tensor { try Tensor.binary(Add.self, self, other) }
    public func subtracting(_ other: Tensor) throws -> Tensor { try Tensor.binary(Sub.self, self, other) }
    public func multiplying(_ other: Tensor) throws -> Tensor { try Tensor.binary(Mul.self, self, other) }
    public func dividing(_ other: Tensor) throws -> Tensor { try Tensor.binary(Div.self, self, other) }
    public func scaled(by factor: Float) throws -> Tensor { try map(Scale(factor)) }
    public func exp() throws -> Tensor { try map(Exp()) }
    public func silu() throws -> Tensor { try map(SiLU()) }
    public func gelu() throws -> Tensor { try map(GELU()) }
    public func sigmoid() throws -> Tensor { try map(Sigmoid()) }

    public static func + (a: Tensor, b: Tensor) throws -> Tensor { try a.adding(b) }
    public static func - (a: Tensor, b: Tensor) throws -> Tensor { try a.subtracting(b) }
    public static func * (a: Tensor, b: Tensor) throws -> Tensor { try a.multiplying(b) }
    public static func / (a: Tensor, b: Tensor) throws -> Tensor { try a.dividing(b) }
}
