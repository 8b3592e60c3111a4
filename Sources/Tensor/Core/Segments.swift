/// Parallel traversal of a collapsed layout in segments: (row, lo..<hi) pieces of the inner run,
/// at least `grain` elements of work each. Elementwise results do not depend on the split.
extension Layout {
    @inline(always) func forEachSegment(grain: Int = 1 << 15, _ body: (_ row: Int, _ lo: Int, _ hi: Int) -> Void) {
        let rows = self.rows, inner = self.inner
        let piecesPerRow = Swift.max(1, inner / grain)
        let items = rows * piecesPerRow
        let tasks = taskCount(work: rows * inner, grain: grain, limit: ThreadPool.shared.threadCount * 4)
        @inline(always) func segment(_ item: Int) {
            let row = item / piecesPerRow, piece = item % piecesPerRow
            let lo = (inner * piece / piecesPerRow) & ~15
            let hi = piece == piecesPerRow - 1 ? inner : (inner * (piece + 1) / piecesPerRow) & ~15
            body(row, lo, hi)
        }
        if tasks == 1 {
            for item in 0..<items { segment(item) }
        } else {
            ThreadPool.shared.parallelRanges(items, parts: tasks) { range in
                for item in range { segment(item) }
            }
        }
    }
}
