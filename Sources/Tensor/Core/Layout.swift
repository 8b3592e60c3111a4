/// Iteration over strided layouts: the shared machinery behind copies and elementwise kernels.
///
/// A layout of up to three operands (output first) over one shape is first *collapsed*: size-1
/// axes are dropped and neighbouring axes that are contiguous with each other in every operand are
/// merged. What remains is a set of outer rows and one inner run, which kernels process with
/// unit-stride SIMD loops when the inner strides allow it.
struct Layout {
    /// Collapsed shape; the last entry is the inner run length.
    var shape: [Int]
    /// Collapsed strides, one array per operand.
    var strides: [[Int]]

    init(shape: [Int], strides operandStrides: [[Int]]) {
        var outShape: [Int] = []
        var outStrides = [[Int]](repeating: [], count: operandStrides.count)
        for axis in shape.indices where shape[axis] != 1 {
            let n = shape[axis]
            if let last = outShape.last,
                operandStrides.indices.allSatisfy({ outStrides[$0].last! == operandStrides[$0][axis] * n })
            {
                outShape[outShape.count - 1] = last * n
                for o in operandStrides.indices { outStrides[o][outStrides[o].count - 1] = operandStrides[o][axis] }
            } else {
                outShape.append(n)
                for o in operandStrides.indices { outStrides[o].append(operandStrides[o][axis]) }
            }
        }
        if outShape.isEmpty {
            outShape = [1]
            for o in operandStrides.indices { outStrides[o] = [1] }
        }
        self.shape = outShape
        self.strides = outStrides
    }

    var inner: Int { shape[shape.count - 1] }
    var rows: Int { shape.dropLast().reduce(1, *) }
    func innerStride(_ operand: Int) -> Int { strides[operand][strides[operand].count - 1] }

    /// Element offset of the start of outer row `row` for `operand`.
    @inline(__always) func rowOffset(_ row: Int, operand: Int) -> Int {
        elementOffset(row * inner, operand: operand)
    }

    /// Element offset of the element with row-major linear index `index` for `operand`.
    @inline(__always) func elementOffset(_ index: Int, operand: Int) -> Int {
        var r = index, o = 0
        let s = strides[operand]
        var axis = shape.count - 1
        while axis >= 0 {
            let n = shape[axis]
            o += (r % n) * s[axis]
            r /= n
            axis -= 1
        }
        return o
    }
}

/// How many parallel tasks a job of `work` units deserves: about one per `grain` units, at most
/// `limit`. Used so that tiny kernels stay on one thread.
@inline(__always) func taskCount(work: Int, grain: Int, limit: Int) -> Int {
    max(1, min(limit, work / max(grain, 1)))
}
