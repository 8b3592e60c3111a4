/// Shape ops and reductions on variables. Views forward; their gradients are views or copies back.
extension Variable {
    public func reshaped(_ newShape: [Int]) throws -> Variable {
        let s = shape
        return Variable.record(try value.reshaped(newShape), [self]) { g in [try g.reshaped(s)] }
    }

    public func permuted(_ order: [Int]) throws -> Variable {
        let out = try value.permuted(order)
        var back = [Int](repeating: 0, count: order.count)
        for (i, o) in order.enumerated() { back[o] = i }
        return Variable.record(out, [self]) { g in [try g.permuted(back)] }
    }

    public func transposed(_ a: Int = -2, _ b: Int = -1) throws -> Variable {
        let x = try value.axis(a, op: "transpose"), y = try value.axis(b, op: "transpose")
        var order = Array(0..<rank)
        order.swapAt(x, y)
        return try permuted(order)
    }

    /// Elements `range` (stepping by `step`) along `axis`; the gradient is zero elsewhere.
    public func sliced(axis a: Int, _ range: Range<Int>, step: Int = 1) throws -> Variable {
        let s = shape
        let out = try value.sliced(axis: a, range, step: step)
        return Variable.record(out, [self]) { g in
            let full = Tensor(zeros: s)
            Copy.strided(from: g, into: try full.sliced(axis: a, range, step: step))
            return [full]
        }
    }

    public static func concat(_ parts: [Variable], axis a: Int) throws -> Variable {
        let out = try Tensor.concat(parts.map(\.value), axis: a)
        let ax = try out.axis(a, op: "concat")
        let sizes = parts.map { $0.shape[ax] }
        return record(out, parts) { g in
            var start = 0
            return try sizes.map { n in
                defer { start += n }
                return try g.sliced(axis: ax, start..<(start + n))
            }
        }
    }

    /// Sum of all elements, rank 0.
    public func sum() throws -> Variable {
        let s = shape
        return Variable.record(try value.sum(), [self]) { g in [try g.broadcast(to: s).contiguous()] }
    }

    /// Mean of all elements, rank 0.
    public func mean() throws -> Variable {
        let s = shape, n = Float(Swift.max(count, 1))
        return Variable.record(try value.mean(), [self]) { g in [try g.scaled(by: 1 / n).broadcast(to: s).contiguous()] }
    }

    public func sum(axis a: Int, keepingAxis: Bool = false) throws -> Variable {
        let s = shape, ax = try value.axis(a, op: "sum")
        return Variable.record(try value.sum(axis: ax, keepingAxis: keepingAxis), [self]) { g in
            let gk = keepingAxis ? g : try g.unsqueezed(axis: ax)
            return [try gk.broadcast(to: s).contiguous()]
        }
    }

    public func mean(axis a: Int, keepingAxis: Bool = false) throws -> Variable {
        let n = shape[try value.axis(a, op: "mean")]
        return try sum(axis: a, keepingAxis: keepingAxis).scaled(by: 1 / Float(Swift.max(n, 1)))
    }
}
