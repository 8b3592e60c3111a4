/// Elementwise ops on variables: arithmetic with broadcasting (gradients are summed back to each
/// input's shape) and activation functions.
extension Variable {
    public static func + (a: Variable, b: Variable) throws -> Variable {
        let (sa, sb) = (a.shape, b.shape)
        return record(try a.value + b.value, [a, b]) { g in
            [try Autograd.sumToShape(g, sa), try Autograd.sumToShape(g, sb)]
        }
    }

    public static func - (a: Variable, b: Variable) throws -> Variable {
        let (sa, sb) = (a.shape, b.shape)
        return record(try a.value - b.value, [a, b]) { g in
            [try Autograd.sumToShape(g, sa), try Autograd.sumToShape(g.scaled(by: -1), sb)]
        }
    }

    public static func * (a: Variable, b: Variable) throws -> Variable {
        let (x, y) = (a.value, b.value)
        let needA = a.requiresGrad, needB = b.requiresGrad
        return record(try x * y, [a, b]) { g in
            [
                needA ? try Autograd.sumToShape(g * y, x.shape) : nil,
                needB ? try Autograd.sumToShape(g * x, y.shape) : nil
            ]
        }
    }

    public static func / (a: Variable, b: Variable) throws -> Variable {
        let (x, y) = (a.value, b.value)
        let needB = b.requiresGrad
        let out = try x / y
        return record(out, [a, b]) { g in
            let ga = try g / y
            // d/dy (x / y) = -x / y^2 = -(out / y)
            return [
                try Autograd.sumToShape(ga, x.shape),
                needB ? try Autograd.sumToShape((ga * out).scaled(by: -1), y.shape) : nil
            ]
        }
    }

    /// self * factor.
    public func scaled(by factor: Float) throws -> Variable {
        Variable.record(try value.scaled(by: factor), [self]) { g in [try g.scaled(by: factor)] }
    }

    public func exp() throws -> Variable {
        let y = try value.exp()
        return Variable.record(y, [self]) { g in [try g * y] }
    }

    public func silu() throws -> Variable {
        let x = value
        return Variable.record(try x.silu(), [self]) { g in [try Tensor.binary(SiLUGrad.self, x, g)] }
    }

    /// GELU with the tanh approximation.
    public func gelu() throws -> Variable {
        let x = value
        return Variable.record(try x.gelu(), [self]) { g in [try Tensor.binary(GELUGrad.self, x, g)] }
    }

    public func sigmoid() throws -> Variable {
        let y = try value.sigmoid()
        return Variable.record(y, [self]) { g in [try Tensor.binary(SigmoidGradFromOutput.self, y, g)] }
    }

    /// log(sigmoid(x)), stable for large |x|: the Bradley-Terry log-likelihood of a score margin.
    public func logSigmoid() throws -> Variable {
        let x = value
        return Variable.record(try x.logSigmoid(), [self]) { g in [try Tensor.binary(LogSigmoidGrad.self, x, g)] }
    }

    /// SwiGLU: silu(gate) * up (same shapes), the Llama MLP's gating.
    public static func swiglu(gate: Variable, up: Variable) throws -> Variable {
        guard gate.shape == up.shape else {
            throw TensorError.shapeMismatch(op: "swiglu", lhs: gate.shape, rhs: up.shape, reason: "gate and up must have one shape")
        }
        let a = gate.value, b = up.value
        let needUp = up.requiresGrad
        // silu(gate) is recomputed in the backward rather than kept: one [rows, ffn] tensor less
        // on the tape per layer for an elementwise pass.
        return record(try a.silu() * b, [gate, up]) { g in
            [try Tensor.binary(SiLUGrad.self, a, try g * b), needUp ? try g * a.silu() : nil]
        }
    }
}
