/// Elementwise arithmetic with NumPy broadcasting, and unary activation functions.
///
/// Each op is a small function type whose SIMD body is specialised into one loop. Inputs may be
/// any strided or broadcast view; outputs are contiguous. Strided inputs are gathered into the same
/// vector code, so a view and its contiguous copy give bit-identical results.

/// A binary function on vectors.
public protocol BinaryFunction {
    static var name: String { get }
    static func apply(_ a: Vec, _ b: Vec) -> Vec
    /// Elements per parallel task (`forEachSegment`): smaller for functions that cost more per element.
    static var grain: Int { get }
}

extension BinaryFunction {
    public static var grain: Int { 1 << 15 }
}

/// A unary function on vectors (a value, so it can carry parameters such as a scale).
public protocol UnaryFunction {
    var name: String { get }
    func apply(_ x: Vec) -> Vec
}

public enum Add: BinaryFunction {
    public static let name = "add"
    @inline(always) public static func apply(_ a: Vec, _ b: Vec) -> Vec { a + b }
}
public enum Sub: BinaryFunction {
    public static let name = "sub"
    @inline(always) public static func apply(_ a: Vec, _ b: Vec) -> Vec { a - b }
}
public enum Mul: BinaryFunction {
    public static let name = "mul"
    @inline(always) public static func apply(_ a: Vec, _ b: Vec) -> Vec { a * b }
}
public enum Div: BinaryFunction {
    public static let name = "div"
    @inline(always) public static func apply(_ a: Vec, _ b: Vec) -> Vec { a / b }
}

/// SwiGLU gating: silu(gate) * up (the Llama MLP), one pass instead of two.
public enum SwiGLU: BinaryFunction {
    public static let name = "swiglu"
    /// An exponential per element: several sequences' gates (8 x 1536) are worth two threads.
    public static var grain: Int { 1 << 12 }
    @inline(always) public static func apply(_ gate: Vec, _ up: Vec) -> Vec { VectorMath.silu(gate) * up }
}

/// GeGLU gating: gelu(gate) * up with the tanh GELU (Gemma's MLP), one pass instead of two.
public enum GeGLU: BinaryFunction {
    public static let name = "geglu"
    /// A tanh per element, as SwiGLU's exponential.
    public static var grain: Int { 1 << 12 }
    @inline(always) public static func apply(_ gate: Vec, _ up: Vec) -> Vec { VectorMath.gelu(gate) * up }
}

public struct Scale: UnaryFunction {
    public var factor: Float
    public init(_ factor: Float) { self.factor = factor }
    public var name: String { "scale" }
    @inline(always) public func apply(_ x: Vec) -> Vec { x * factor }
}
public struct Exp: UnaryFunction {
    public init() {}
    public var name: String { "exp" }
    @inline(always) public func apply(_ x: Vec) -> Vec { VectorMath.exp(x) }
}
public struct SiLU: UnaryFunction {
    public init() {}
    public var name: String { "silu" }
    @inline(always) public func apply(_ x: Vec) -> Vec { VectorMath.silu(x) }
}
public struct GELU: UnaryFunction {
    public init() {}
    public var name: String { "gelu" }
    @inline(always) public func apply(_ x: Vec) -> Vec { VectorMath.gelu(x) }
}
public struct Sigmoid: UnaryFunction {
    public init() {}
    public var name: String { "sigmoid" }
    @inline(always) public func apply(_ x: Vec) -> Vec { VectorMath.sigmoid(x) }
}
public struct Negate: UnaryFunction {
    public init() {}
    public var name: String { "neg" }
    @inline(always) public func apply(_ x: Vec) -> Vec { -x }
}

extension Tensor {
    /// Applies `F` elementwise to broadcast operands, into a new contiguous tensor.
    public static func binary<F: BinaryFunction>(_ f: F.Type, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        let out = Tensor.uninitialized(try Tensor.broadcastShape(a.shape, b.shape, op: F.name))
        try binary(f, a, b, into: out)
        return out
    }

    /// Applies `F` elementwise to broadcast operands, writing into `out` (contiguous f32 of the
    /// broadcast shape; it may be one of the operands, for an in-place update).
    // Specialised here for the functions the models call from other modules: unspecialised, each
    // vector went through a protocol witness that took it in four 4-lane pieces.
    @_specialize(exported:true,where F == Add)
    @_specialize(exported:true,where F == Mul)
    @_specialize(exported:true,where F == SwiGLU)
    @_specialize(exported:true,where F == GeGLU)
    public static func binary<F: BinaryFunction>(_ f: F.Type, _ a: Tensor, _ b: Tensor, into out: Tensor) throws {
        try a.requireFloat32(F.name)
        try b.requireFloat32(F.name)
        let shape = try Tensor.broadcastShape(a.shape, b.shape, op: F.name)
        try out.requireOutput(shape: shape, op: F.name)
        let av = try a.broadcast(to: shape), bv = try b.broadcast(to: shape)
        let layout = Layout(shape: shape, strides: [out.strides, av.strides, bv.strides])
        let sa = layout.innerStride(1), sb = layout.innerStride(2)
        let po = out.floatPointer, pa = av.floatPointer, pb = bv.floatPointer
        layout.forEachSegment(grain: F.grain) { row, lo, hi in
            let o = po + layout.rowOffset(row, operand: 0)
            let x = pa + layout.rowOffset(row, operand: 1)
            let y = pb + layout.rowOffset(row, operand: 2)
            var i = lo
            if sa == 1 && sb == 1 {
                while i + Vec.scalarCount <= hi {
                    let v = F.apply(
                        UnsafeRawPointer(x + i).loadUnaligned(as: Vec.self),
                        UnsafeRawPointer(y + i).loadUnaligned(as: Vec.self))
                    UnsafeMutableRawPointer(o + i).storeBytes(of: v, as: Vec.self)
                    i += Vec.scalarCount
                }
            } else if sa == 1 && sb == 0 {
                let s = Vec(repeating: y[0])
                while i + Vec.scalarCount <= hi {
                    let v = F.apply(UnsafeRawPointer(x + i).loadUnaligned(as: Vec.self), s)
                    UnsafeMutableRawPointer(o + i).storeBytes(of: v, as: Vec.self)
                    i += Vec.scalarCount
                }
            } else if sa == 0 && sb == 1 {
                let s = Vec(repeating: x[0])
                while i + Vec.scalarCount <= hi {
                    let v = F.apply(s, UnsafeRawPointer(y + i).loadUnaligned(as: Vec.self))
                    UnsafeMutableRawPointer(o + i).storeBytes(of: v, as: Vec.self)
                    i += Vec.scalarCount
                }
            }
            while i < hi {
                let n = Swift.min(Vec.scalarCount, hi - i)
                let v = F.apply(
                    VectorMath.load(x + i * sa, stride: sa, count: n, fill: 1),
                    VectorMath.load(y + i * sb, stride: sb, count: n, fill: 1))
                VectorMath.store(v, o + i, count: n)
                i += n
            }
        }
    }

    /// Applies `f` elementwise, into a new contiguous tensor.
    public func map<F: UnaryFunction>(_ f: F) throws -> Tensor {
        let out = Tensor.uninitialized(shape)
        try map(f, into: out)
        return out
    }

    /// Applies `f` elementwise into `out` (contiguous f32 of this shape; may be self if contiguous).
    public func map<F: UnaryFunction>(_ f: F, into out: Tensor) throws {
        try requireFloat32(f.name)
        try out.requireOutput(shape: shape, op: f.name)
        let layout = Layout(shape: shape, strides: [out.strides, strides])
        let s = layout.innerStride(1)
        let po = out.floatPointer, px = floatPointer
        layout.forEachSegment { row, lo, hi in
            let o = po + layout.rowOffset(row, operand: 0)
            let x = px + layout.rowOffset(row, operand: 1)
            var i = lo
            if s == 1 {
                while i + Vec.scalarCount <= hi {
                    let v = f.apply(UnsafeRawPointer(x + i).loadUnaligned(as: Vec.self))
                    UnsafeMutableRawPointer(o + i).storeBytes(of: v, as: Vec.self)
                    i += Vec.scalarCount
                }
            }
            while i < hi {
                let n = Swift.min(Vec.scalarCount, hi - i)
                VectorMath.store(f.apply(VectorMath.load(x + i * s, stride: s, count: n)), o + i, count: n)
                i += n
            }
        }
    }

    /// Checks that this tensor can receive an op's result of `shape`.
    func requireOutput(shape expected: [Int], op: String) throws {
        try requireFloat32(op)
        guard shape == expected, isContiguous else {
            throw TensorError.shapeMismatch(
                op: op, lhs: expected, rhs: shape,
                reason: "the output must be contiguous with the result's shape")
        }
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
