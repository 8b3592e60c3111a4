import Foundation

/// The working of one synthetic arithmetic item in the decomposition its responses show:
/// `a + b` and `a - b` as hundreds and the rest, `a × b` as `a` times the tens and the ones of `b`.
/// Three steps, each a small sum or product: two parts, then their total.
struct ArithmeticSteps {
    /// Each step as shown ("600 + 900") and its value.
    let steps: [(text: String, value: Int)]

    init(_ a: Int, _ op: String, _ b: Int) {
        switch op {
        case "+", "-":
            let (ah, ar, bh, br) = (a / 100 * 100, a % 100, b / 100 * 100, b % 100)
            let h = op == "+" ? ah + bh : ah - bh
            let r = op == "+" ? ar + br : ar - br
            let total = r >= 0 ? "\(h) + \(r)" : "\(h) - \(-r)"
            steps = [("\(ah) \(op) \(bh)", h), ("\(ar) \(op) \(br)", r), (total, h + r)]
        default:
            let (tens, ones) = (b / 10 * 10, b % 10)
            steps = [("\(a) × \(tens)", a * tens), ("\(a) × \(ones)", a * ones), ("\(a * tens) + \(a * ones)", a * b)]
        }
    }

    var result: Int { steps[2].value }

    /// "Working: 600 + 900 = 1500; 63 + 37 = 100; 1500 + 100 = 1600."
    var working: String {
        "Working: " + steps.map { "\($0.text) = \($0.value)" }.joined(separator: "; ") + "."
    }

    /// The working's last step as shown ("1500 + 100 = 1600").
    var lastStep: String { "\(steps[2].text) = \(steps[2].value)" }

    /// The response's own last step, `= p + q = t` after its decomposition, as its four parts
    /// (p, the sign, q, t); nil when it does not show its working in that shape.
    static func lastStepParts(in response: String) -> [String]? {
        ReferenceChecks.matches("= (-?\\d+) ([+-]) (\\d+) = (-?\\d+)", response).last.map { Array($0.dropFirst()) }
    }

    /// The response's own last step in the working's shape ("1600 + 100 = 1700").
    func lastStep(in response: String) -> String? {
        ArithmeticSteps.lastStepParts(in: response).map { "\($0[0]) \($0[1]) \($0[2]) = \($0[3])" }
    }

    /// Why `response` is wrong, naming its first step that differs from the working: the two
    /// parts it writes after the decomposition (`= p + q = t`), then its total. Nil when the
    /// response does not show its working in that shape.
    func firstWrongStep(in response: String) -> String? {
        guard let m = ArithmeticSteps.lastStepParts(in: response), let p = Int(m[0]), let q = Int(m[2]), let t = Int(m[3]) else {
            return nil
        }
        let second = m[1] == "-" ? -q : q
        if p != steps[0].value { return "has \(p) for \(steps[0].text), not \(steps[0].value)" }
        if second != steps[1].value { return "has \(second) for \(steps[1].text), not \(steps[1].value)" }
        if t != steps[2].value { return "ends with \(t), not \(steps[2].value)" }
        return nil
    }
}
