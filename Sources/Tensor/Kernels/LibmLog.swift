import Foundation

/// Scalar libm log, for the rare lanes VectorMath.log hands back (subnormal inputs).
@inline(never) public func libmLog(_ x: Float) -> Float { Foundation.log(x) }
