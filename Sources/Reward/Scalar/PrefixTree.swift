/// How a set of token sequences that share prefixes (items' responses after their prompts, after
/// one system prompt; a judge's samples after each response order's judging prompt) prefills each
/// shared stretch once: a prefix tree. A node is a stretch of at least `minimum` tokens that every
/// sequence under it begins with, prefilled into a fork of its parent's cache; a leaf is one
/// sequence's own rest, prefilled into a fork of its deepest node. Every sequence keeps at least its
/// last token to its leaf (its state is the one read).
struct PrefixTree: Equatable {
    /// Tokens `range` of sequence `sequence` (all sequences under the node have them), after its
    /// `parent`'s; `level` 0 for a root.
    struct Node: Equatable {
        var parent: Int?
        var sequence: Int
        var range: Range<Int>
        var level: Int
    }
    /// Sequence `sequence` from token `start` on, after node `parent` (or from an empty cache).
    struct Leaf: Equatable {
        var sequence: Int
        var parent: Int?
        var start: Int
    }
    /// Parents before their children.
    private(set) var nodes: [Node] = []
    /// One per member, in the members' order.
    private(set) var leaves: [Leaf] = []

    /// `members` (indices into `sequences`) ordered so that sequences with common prefixes stand
    /// side by side: the order in which a tree shares the most.
    static func sorted(_ sequences: [[Int32]], members: [Int]) -> [Int] {
        members.sorted { sequences[$0].lexicographicallyPrecedes(sequences[$1]) }
    }

    /// The tree over the sequences `members` lists, in that order (`sorted` for the most sharing;
    /// any order is correct, since a run's smallest neighbour-to-neighbour common prefix is common
    /// to the whole run). With `minimum` 0 it has no nodes and every leaf is a whole sequence.
    init(_ sequences: [[Int32]], members sorted: [Int], minimum: Int) {
        guard minimum > 0 else {
            leaves = sorted.map { Leaf(sequence: $0, parent: nil, start: 0) }
            return
        }
        // lcp[k]: what sorted k and k + 1 can share, short of either one's last token.
        let lcp = zip(sorted, sorted.dropFirst()).map { a, b -> Int in
            let (x, y) = (sequences[a], sequences[b])
            let cap = min(x.count, y.count) - 1
            var n = 0
            while n < cap && x[n] == y[n] { n += 1 }
            return n
        }
        // A range of sorted members whose first `depth` tokens are in `parent`'s cache: a node for
        // the stretch they all share when it is long enough, then a subtree per run that shares more.
        var stack: [(range: Range<Int>, parent: Int?, depth: Int)] = [(0..<sorted.count, nil, 0)]
        while let (range, parentIn, depthIn) = stack.popLast() {
            guard range.count > 1 else {
                leaves.append(Leaf(sequence: sorted[range.lowerBound], parent: parentIn, start: depthIn))
                continue
            }
            let shared = lcp[range.lowerBound..<range.upperBound - 1].min()!
            var parent = parentIn, depth = depthIn
            if shared - depth >= minimum {
                let level = parent.map { nodes[$0].level + 1 } ?? 0
                nodes.append(Node(parent: parent, sequence: sorted[range.lowerBound], range: depth..<shared, level: level))
                parent = nodes.count - 1
                depth = shared
            }
            var runs: [Range<Int>] = []
            var start = range.lowerBound
            for k in range.lowerBound..<range.upperBound - 1 where lcp[k] == shared {
                runs.append(start..<k + 1)
                start = k + 1
            }
            runs.append(start..<range.upperBound)
            // Reversed onto the stack, so the leaves come out in sorted order.
            for run in runs.reversed() { stack.append((run, parent, depth)) }
        }
    }
}
