import Foundation

/// A small self-contained SVG line chart (no scripts, no external fonts or styles): axes with
/// ticks, one polyline per series with point markers and optional error bars, a legend.
public struct SVGLinePlot {
    public struct Point: Equatable, Sendable {
        public var x: Double
        public var y: Double
        /// Error bar ends (e.g. a 95% interval), drawn when both are given.
        public var low: Double?
        public var high: Double?

        public init(x: Double, y: Double, low: Double? = nil, high: Double? = nil) {
            self.x = x
            self.y = y
            self.low = low
            self.high = high
        }
    }

    public struct Series: Equatable, Sendable {
        public var name: String
        public var points: [Point]

        public init(name: String, points: [Point]) {
            self.name = name
            self.points = points
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    /// Place x on a log2 scale (k = 1, 2, 4, ... evenly spaced).
    public var logX: Bool
    /// Fixed y range; nil fits the data (with error bars) and pads it.
    public var yRange: ClosedRange<Double>?
    public var width = 640.0
    public var height = 400.0

    static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

    public init(
        title: String, xLabel: String, yLabel: String, series: [Series], logX: Bool = false,
        yRange: ClosedRange<Double>? = nil
    ) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.logX = logX
        self.yRange = yRange
    }

    /// "Nice" tick values covering `range` (steps of 1, 2 or 5 times a power of ten).
    static func ticks(_ range: ClosedRange<Double>, count: Int = 5) -> [Double] {
        let span = range.upperBound - range.lowerBound
        guard span > 0, span.isFinite else { return [range.lowerBound] }
        let raw = span / Double(max(1, count))
        let magnitude = pow(10, (log10(raw)).rounded(.down))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        var out: [Double] = []
        var v = (range.lowerBound / step).rounded(.up) * step
        while v <= range.upperBound + step * 1e-9 {
            out.append(abs(v) < step * 1e-9 ? 0 : v)
            v += step
        }
        return out
    }

    static func label(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e9 ? String(Int(v)) : String(format: "%g", v)
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func f(_ v: Double) -> String { String(format: "%.2f", v) }

    /// The SVG document.
    public func render() -> String {
        let points = series.flatMap(\.points).filter { $0.x.isFinite && $0.y.isFinite && (!logX || $0.x > 0) }
        // Legend entries flow left to right below the plot, wrapping to new rows of 18 px; the
        // plot area shrinks by the rows past the first. Widths assume about 7 px per character.
        var legend: [(x: Double, row: Int)] = []
        var lx = 64.0, row = 0
        for line in series {
            let w = 28 + 7 * Double(line.name.count) + 18
            if lx > 64 && lx + w > width - 8 {
                lx = 64
                row += 1
            }
            legend.append((lx, row))
            lx += w
        }
        let (left, right, top, bottom) = (64.0, width - 24, 40.0, height - 84 - 18 * Double(row))
        var xs = points.map { logX ? log2($0.x) : $0.x }
        if xs.isEmpty { xs = [0, 1] }
        var xMin = xs.min()!, xMax = xs.max()!
        if xMin == xMax {
            xMin -= 0.5
            xMax += 0.5
        }
        let yValues = points.flatMap { [$0.y, $0.low ?? $0.y, $0.high ?? $0.y] }
        var yr = yRange ?? ((yValues.min() ?? 0)...(yValues.max() ?? 1))
        if yRange == nil {
            let pad = max((yr.upperBound - yr.lowerBound) * 0.08, 1e-6)
            yr = (yr.lowerBound - pad)...(yr.upperBound + pad)
        }
        func px(_ x: Double) -> Double { left + ((logX ? log2(x) : x) - xMin) / (xMax - xMin) * (right - left) }
        func py(_ y: Double) -> Double { bottom - (y - yr.lowerBound) / (yr.upperBound - yr.lowerBound) * (bottom - top) }

        var s = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(SVGLinePlot.f(width / 2))" y="22" text-anchor="middle" font-size="15">\(SVGLinePlot.escape(title))</text>

            """
        // Grid, ticks and tick labels.
        for t in SVGLinePlot.ticks(yr) {
            let y = SVGLinePlot.f(py(t))
            s += "<line x1=\"\(SVGLinePlot.f(left))\" y1=\"\(y)\" x2=\"\(SVGLinePlot.f(right))\" y2=\"\(y)\" stroke=\"#e5e5e5\"/>\n"
            s += "<text x=\"\(SVGLinePlot.f(left - 6))\" y=\"\(y)\" text-anchor=\"end\" dominant-baseline=\"middle\">\(SVGLinePlot.label(t))</text>\n"
        }
        let xTicks: [Double] =
            logX
            ? Array(Set(points.map(\.x))).sorted()
            : SVGLinePlot.ticks(xMin...xMax)
        for t in xTicks {
            let x = SVGLinePlot.f(px(t))
            s += "<line x1=\"\(x)\" y1=\"\(SVGLinePlot.f(bottom))\" x2=\"\(x)\" y2=\"\(SVGLinePlot.f(bottom + 5))\" stroke=\"black\"/>\n"
            s += "<text x=\"\(x)\" y=\"\(SVGLinePlot.f(bottom + 18))\" text-anchor=\"middle\">\(SVGLinePlot.label(t))</text>\n"
        }
        s +=
            "<polyline points=\"\(SVGLinePlot.f(left)),\(SVGLinePlot.f(top)) \(SVGLinePlot.f(left)),\(SVGLinePlot.f(bottom)) "
            + "\(SVGLinePlot.f(right)),\(SVGLinePlot.f(bottom))\" fill=\"none\" stroke=\"black\"/>\n"
        s +=
            "<text x=\"\(SVGLinePlot.f((left + right) / 2))\" y=\"\(SVGLinePlot.f(bottom + 38))\" text-anchor=\"middle\">"
            + SVGLinePlot.escape(xLabel) + "</text>\n"
        s +=
            "<text transform=\"translate(16 \(SVGLinePlot.f((top + bottom) / 2))) rotate(-90)\" text-anchor=\"middle\">"
            + SVGLinePlot.escape(yLabel) + "</text>\n"

        for (i, line) in series.enumerated() {
            let color = SVGLinePlot.palette[i % SVGLinePlot.palette.count]
            let pts = line.points.filter { $0.x.isFinite && $0.y.isFinite && (!logX || $0.x > 0) }.sorted { $0.x < $1.x }
            s += "<g fill=\"\(color)\" stroke=\"\(color)\">\n"
            if pts.count > 1 {
                s +=
                    "<polyline fill=\"none\" stroke-width=\"2\" points=\""
                    + pts.map { "\(SVGLinePlot.f(px($0.x))),\(SVGLinePlot.f(py($0.y)))" }.joined(separator: " ") + "\"/>\n"
            }
            for p in pts {
                let (x, y) = (px(p.x), py(p.y))
                if let lo = p.low, let hi = p.high, lo.isFinite, hi.isFinite {
                    s +=
                        "<line x1=\"\(SVGLinePlot.f(x))\" y1=\"\(SVGLinePlot.f(py(lo)))\" x2=\"\(SVGLinePlot.f(x))\" "
                        + "y2=\"\(SVGLinePlot.f(py(hi)))\" stroke-width=\"1\"/>\n"
                    for e in [lo, hi] {
                        s +=
                            "<line x1=\"\(SVGLinePlot.f(x - 4))\" y1=\"\(SVGLinePlot.f(py(e)))\" x2=\"\(SVGLinePlot.f(x + 4))\" "
                            + "y2=\"\(SVGLinePlot.f(py(e)))\" stroke-width=\"1\"/>\n"
                    }
                }
                s += "<circle cx=\"\(SVGLinePlot.f(x))\" cy=\"\(SVGLinePlot.f(y))\" r=\"3.5\"/>\n"
            }
            // Legend entry below the plot.
            let lx = legend[i].x, ly = height - 18 - 18 * Double(row - legend[i].row)
            s +=
                "<line x1=\"\(SVGLinePlot.f(lx))\" y1=\"\(SVGLinePlot.f(ly))\" x2=\"\(SVGLinePlot.f(lx + 22))\" "
                + "y2=\"\(SVGLinePlot.f(ly))\" stroke-width=\"2\"/>\n"
            s +=
                "<text x=\"\(SVGLinePlot.f(lx + 28))\" y=\"\(SVGLinePlot.f(ly))\" stroke=\"none\" fill=\"black\" "
                + "dominant-baseline=\"middle\">\(SVGLinePlot.escape(line.name))</text>\n"
            s += "</g>\n"
        }
        return s + "</svg>\n"
    }

    /// Writes the SVG atomically.
    public func write(to path: String) throws { try AtomicFileWriter.write(render(), to: path) }
}

extension EvaluationReport {
    /// Accuracy (%) against k with 95% intervals: voting@k, and MetaRM@k when present.
    public func accuracyPlot(title: String = "Accuracy against k") -> SVGLinePlot {
        func point(_ k: Int, _ s: AccuracyStats) -> SVGLinePlot.Point {
            let ci = s.interval95
            return .init(x: Double(k), y: s.accuracy * 100, low: ci.low * 100, high: ci.high * 100)
        }
        var series = [SVGLinePlot.Series(name: "voting@k", points: curve.map { point($0.k, $0.voting) })]
        let meta = curve.compactMap { p in p.meta.map { point(p.k, $0) } }
        if !meta.isEmpty { series.append(.init(name: "MetaRM@k", points: meta)) }
        return SVGLinePlot(
            title: title, xLabel: "k (samples per item)", yLabel: "accuracy (%)", series: series,
            logX: true)
    }
}
