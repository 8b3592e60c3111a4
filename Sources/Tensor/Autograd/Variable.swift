/// Reverse-mode automatic differentiation: a define-by-run tape over `Tensor`.
///
/// A `Variable` wraps a tensor value. Ops on variables (Autograd/*.swift) compute their result with
/// the ordinary tensor kernels and, when grad mode is on and some input requires a gradient, record
/// a node: the parents and a closure that maps the result's gradient to the parents' gradients.
/// `backward()` walks the recorded graph once in reverse topological order, accumulating `.grad` on
/// leaves (parameters) and freeing each intermediate node's closure and gradient as soon as it has
/// been used. Plain `Tensor` ops never record anything: inference pays no tape cost. Inside
/// `Autograd.noGrad { }` variable ops record nothing either.
public final class Variable: @unchecked Sendable {
    /// The value. Optimisers update parameters' storage in place.
    public var value: Tensor
    /// The accumulated gradient (leaves keep it across `backward()` calls until `zeroGrad()`).
    public var grad: Tensor?
    /// Whether gradients flow to this variable. Setting it false on a parameter freezes it.
    public var requiresGrad: Bool
    /// A name for parameters (checkpoints, error messages).
    public var name: String

    var parents: [Variable] = []
    var backwardFn: ((Tensor) throws -> [Tensor?])?
    /// Set on recorded nodes once a backward pass has used (and freed) them.
    var consumed = false

    public init(_ value: Tensor, requiresGrad: Bool = false, name: String = "") {
        self.value = value
        self.requiresGrad = requiresGrad
        self.name = name
    }

    public var shape: [Int] { value.shape }
    public var rank: Int { value.rank }
    public var count: Int { value.count }
    /// True for variables created by the user rather than recorded by an op.
    public var isLeaf: Bool { backwardFn == nil }

    /// The value of a one-element variable.
    public var item: Float { value.scalars()[0] }

    /// Clears the accumulated gradient.
    public func zeroGrad() { grad = nil }

    /// The result of an op: records a node when grad mode is on and a parent requires a gradient.
    /// `backward` receives the result's gradient and returns one gradient (or nil) per parent, each
    /// of that parent's shape.
    static func record(
        _ value: Tensor, _ parents: [Variable],
        _ backward: @escaping (Tensor) throws -> [Tensor?]
    ) -> Variable {
        let needs = Autograd.isEnabled && parents.contains { $0.requiresGrad }
        let v = Variable(value, requiresGrad: needs)
        if needs {
            v.parents = parents
            v.backwardFn = backward
        }
        return v
    }

    /// Back-propagates from this variable. Without `seed` the variable must hold one element and
    /// its gradient is 1; otherwise `seed` (this variable's shape) is the incoming gradient.
    public func backward(seed: Tensor? = nil) throws {
        guard requiresGrad else {
            throw TensorError.invalidShape(
                op: "backward", shape: shape,
                reason: "the result does not depend on any variable that requires a gradient")
        }
        let start: Tensor
        if let seed {
            guard seed.shape == shape else {
                throw TensorError.shapeMismatch(op: "backward", lhs: shape, rhs: seed.shape, reason: "the seed must have the result's shape")
            }
            start = seed
        } else {
            guard count == 1 else {
                throw TensorError.invalidShape(op: "backward", shape: shape, reason: "needs a seed unless the result has one element")
            }
            start = Tensor(shape: shape, repeating: 1)
        }
        let order = topologicalOrder()
        if let used = order.first(where: { $0.consumed }) {
            throw TensorError.invalidShape(
                op: "backward", shape: used.shape,
                reason: "part of this graph was already back-propagated and freed; run the forward again")
        }
        // Leaves accumulate into their existing gradient; interior nodes start empty.
        var pending: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): start]
        for node in order.reversed() {
            let id = ObjectIdentifier(node)
            guard let g = pending.removeValue(forKey: id) else { continue }
            guard let fn = node.backwardFn else {
                node.grad = try Autograd.accumulate(node.grad, g)
                continue
            }
            let grads = try fn(g)
            for (p, gp) in zip(node.parents, grads) where p.requiresGrad {
                guard let gp else { continue }
                guard gp.shape == p.shape else {
                    throw TensorError.shapeMismatch(
                        op: "backward", lhs: p.shape, rhs: gp.shape,
                        reason: "a backward rule returned a gradient of the wrong shape")
                }
                let pid = ObjectIdentifier(p)
                pending[pid] = try Autograd.accumulate(pending[pid], gp)
            }
            // Free the saved tensors of this node: the graph is used once.
            node.backwardFn = nil
            node.parents = []
            node.consumed = true
        }
    }

    /// Nodes reachable from self that require a gradient, parents before children.
    private func topologicalOrder() -> [Variable] {
        var order: [Variable] = []
        var visited = Set<ObjectIdentifier>()
        // Iterative DFS: deep graphs (many layers) must not overflow the stack.
        var stack: [(Variable, Int)] = [(self, 0)]
        visited.insert(ObjectIdentifier(self))
        while let (node, next) = stack.popLast() {
            if next < node.parents.count {
                stack.append((node, next + 1))
                let p = node.parents[next]
                if p.requiresGrad && visited.insert(ObjectIdentifier(p)).inserted {
                    stack.append((p, 0))
                }
            } else {
                order.append(node)
            }
        }
        return order
    }
}

/// Grad mode and helpers shared by the backward rules.
public enum Autograd {
    nonisolated(unsafe) static var enabledFlag = true

    /// Whether variable ops record a graph (true outside `noGrad`).
    public static var isEnabled: Bool { enabledFlag }

    /// Runs `body` without recording: variable ops compute values only.
    public static func noGrad<T>(_ body: () throws -> T) rethrows -> T {
        let saved = enabledFlag
        enabledFlag = false
        defer { enabledFlag = saved }
        return try body()
    }

    /// a + b, treating nil as zero. Never writes into either operand (they may be views).
    static func accumulate(_ a: Tensor?, _ b: Tensor) throws -> Tensor {
        guard let a else { return b }
        return try a + b
    }

    /// Sums a broadcast gradient back to `shape`: over leading axes the input lacked and over
    /// axes where the input had size 1.
    public static func sumToShape(_ g: Tensor, _ shape: [Int]) throws -> Tensor {
        if g.shape == shape { return g }
        var r = g
        while r.rank > shape.count { r = try r.sum(axis: 0) }
        for i in 0..<shape.count where shape[i] == 1 && r.shape[i] != 1 {
            r = try r.sum(axis: i, keepingAxis: true)
        }
        guard r.shape == shape else {
            throw TensorError.shapeMismatch(op: "sumToShape", lhs: g.shape, rhs: shape, reason: "the gradient does not broadcast to the input")
        }
        return r
    }
}

extension Variable: CustomStringConvertible {
    public var description: String {
        "Variable(\(name.isEmpty ? "" : name + ", ")\(value)\(requiresGrad ? ", requiresGrad" : ""))"
    }
}
