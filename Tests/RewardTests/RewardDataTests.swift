import Foundation
import Transformer
import XCTest
@testable import Reward

/// JSONL reward items: the three layouts, prompts as strings or messages, precise errors with
/// line numbers, skipping, streaming through a small buffer, and atomic writing.
final class RewardDataTests: XCTestCase {
    var dir: String!

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "reward-data-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    func write(_ text: String, _ name: String = "in.jsonl") throws -> String {
        let path = dir + "/" + name
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        return path
    }

    func testPairwiseWithStringPrompt() throws {
        let item = try RewardItem(jsonLine: #"{"prompt":"2+2?","chosen":"4","rejected":"5","id":7,"subset":"math"}"#)
        XCTAssertEqual(item.prompt, [ChatMessage(role: "user", content: "2+2?")])
        XCTAssertEqual(item.responses, ["4", "5"])
        XCTAssertEqual(item.label, .best(0))
        XCTAssertEqual(item.bestIndex, 0)
        XCTAssertEqual(item.format, .pairwise)
        XCTAssertEqual(item.id, "7")
        XCTAssertEqual(item.category, "math")
    }

    func testPairwiseConversationalAndImplicitPrompt() throws {
        let conversational = try RewardItem(
            jsonLine: """
                {"prompt":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],
                 "chosen":[{"role":"assistant","content":"Hello!"}],"rejected":[{"role":"assistant","content":"Go away."}]}
                """.replacingOccurrences(of: "\n", with: ""))
        XCTAssertEqual(conversational.prompt.map(\.role), ["system", "user"])
        XCTAssertEqual(conversational.responses, ["Hello!", "Go away."])
        XCTAssertEqual(conversational.query, "Hi")

        let implicit = try RewardItem(
            jsonLine: """
                {"chosen":[{"role":"user","content":"Q"},{"role":"assistant","content":"good"}],\
                "rejected":[{"role":"user","content":"Q"},{"role":"assistant","content":"bad"}]}
                """)
        XCTAssertEqual(implicit.prompt, [ChatMessage(role: "user", content: "Q")])
        XCTAssertEqual(implicit.responses, ["good", "bad"])

        XCTAssertThrowsError(
            try RewardItem(
                jsonLine: """
                    {"chosen":[{"role":"user","content":"Q"},{"role":"assistant","content":"good"}],\
                    "rejected":[{"role":"user","content":"other"},{"role":"assistant","content":"bad"}]}
                    """)
        ) { XCTAssertTrue("\($0)".contains("do not share a conversation"), "\($0)") }
    }

    func testListwiseBestAndScores() throws {
        let best = try RewardItem(jsonLine: #"{"prompt":"p","responses":["a","b","c"],"best":2,"category":"x"}"#)
        XCTAssertEqual(best.label, .best(2))
        XCTAssertEqual(best.bestIndex, 2)
        let scores = try RewardItem(jsonLine: #"{"prompt":"p","responses":["a","b","c"],"scores":[1,7.5,3]}"#)
        XCTAssertEqual(scores.label, .scores([1, 7.5, 3]))
        XCTAssertEqual(scores.bestIndex, 1)
        // Both, agreeing, are fine; disagreeing is an error.
        XCTAssertNoThrow(try RewardItem(jsonLine: #"{"prompt":"p","responses":["a","b"],"scores":[1,2],"best":1}"#))
        XCTAssertThrowsError(try RewardItem(jsonLine: #"{"prompt":"p","responses":["a","b"],"scores":[1,2],"best":0}"#))
    }

    func testSingle() throws {
        let a = try RewardItem(jsonLine: #"{"prompt":"p","response":"r","label":1}"#)
        XCTAssertEqual(a.label, .binary(1))
        XCTAssertNil(a.bestIndex)
        let b = try RewardItem(jsonLine: #"{"prompt":"p","response":"r","label":false}"#)
        XCTAssertEqual(b.label, .binary(0))
    }

    func testErrorsNameTheProblem() {
        let cases: [(String, String)] = [
            (#"{"prompt":"p","responses":["a","b"],"best":2}"#, "best = 2 is out of range"),
            (#"{"prompt":"p","responses":["a","b"],"best":1.5}"#, "best must be an integer"),
            (#"{"prompt":"p","responses":["a","b"],"best":true}"#, "best must be an integer"),
            (#"{"prompt":"p","responses":["a",3],"best":0}"#, "responses[1] must be a string"),
            (#"{"prompt":"p","responses":["a","b"]}"#, "needs \"best\" or \"scores\""),
            (#"{"prompt":"p","responses":["a","b"],"scores":[2,2]}"#, "no unique maximum"),
            (#"{"prompt":"p","responses":["a","b"],"scores":[2]}"#, "1 scores for 2 responses"),
            (#"{"prompt":"p","response":"r","label":2}"#, "label = 2 must be 0 or 1"),
            (#"{"prompt":"p","response":"r"}"#, "needs \"label\""),
            (#"{"prompt":"p","chosen":"a"}"#, "missing \"rejected\""),
            (#"{"chosen":"a","rejected":"b"}"#, "missing \"prompt\""),
            (#"{"prompt":5,"chosen":"a","rejected":"b"}"#, "prompt must be a string or a list of messages"),
            (#"{"prompt":[{"role":"user"}],"chosen":"a","rejected":"b"}"#, "prompt[0].content must be a string"),
            (#"{"prompt":[],"chosen":"a","rejected":"b"}"#, "empty message list"),
            (#"{"prompt":"p"}"#, "no responses"),
            (#"{"prompt":"p","chosen":"a","rejected":"b","response":"c","label":1}"#, "mixes item kinds"),
            (#"[1,2]"#, "expected a JSON object"),
            (#"{"prompt":"p","#, "invalid JSON")
        ]
        for (line, expected) in cases {
            XCTAssertThrowsError(try RewardItem(jsonLine: line), line) { error in
                XCTAssertTrue("\(error)".contains(expected), "\(line): \(error)")
            }
        }
    }

    func testMalformedLineReportsItsNumber() throws {
        let path = try write(
            """
            {"prompt":"a","chosen":"x","rejected":"y"}

            {"prompt":"b","chosen":"x","rejected":"y"}
            {"prompt":"c","responses":["x"],"best":0}
            {"prompt":"d","chosen":"x","rejected":"y"}
            """)
        XCTAssertThrowsError(try RewardItemReader.readAll(path: path)) { error in
            let e = error as! RewardDataError
            XCTAssertEqual(e.line, 4)
            XCTAssertEqual(e.file, path)
            XCTAssertTrue(e.reason.contains("at least 2 responses"), e.reason)
            XCTAssertTrue("\(e)".hasPrefix("\(path):4: "), "\(e)")
        }
        let (items, skipped) = try RewardItemReader.readAll(path: path, skipInvalid: true)
        XCTAssertEqual(items.map(\.query), ["a", "b", "d"])
        XCTAssertEqual(skipped, 1)
        let reader = try RewardItemReader(path: path, skipInvalid: true)
        XCTAssertEqual(Array(reader).count, 3)
        XCTAssertEqual(reader.skippedErrors.map(\.line), [4])
        XCTAssertNil(reader.error)
    }

    func testSequenceStopsAtErrorAndKeepsIt() throws {
        let path = try write("{\"prompt\":\"a\",\"chosen\":\"x\",\"rejected\":\"y\"}\nnot json\n")
        let reader = try RewardItemReader(path: path)
        XCTAssertEqual(Array(reader).count, 1)
        XCTAssertEqual(reader.error?.line, 2)
        XCTAssertTrue(reader.error!.reason.contains("invalid JSON"))
    }

    func testMissingFile() {
        XCTAssertThrowsError(try RewardItemReader(path: dir + "/nope.jsonl")) { XCTAssertTrue("\($0)".contains("cannot open")) }
    }

    func testLineReaderWithLinesLongerThanItsBuffer() throws {
        let lines = (0..<50).map { i in String(repeating: "x", count: i * 7) + "é\(i)" }
        let path = try write(lines.joined(separator: "\r\n"))  // CRLF, no final newline
        let reader = try LineReader(path: path, bufferSize: 16)
        var got: [String] = []
        while let l = try reader.nextLine() { got.append(String(decoding: l, as: UTF8.self)) }
        XCTAssertEqual(got, lines)
        XCTAssertEqual(reader.lineNumber, 50)
    }

    func testRoundTripThroughWriter() throws {
        let items = [
            try RewardItem(jsonLine: #"{"id":"a","category":"c","prompt":"p\n\"q\"\t\u0001","chosen":"x","rejected":"y"}"#),
            try RewardItem(
                jsonLine: #"{"prompt":[{"role":"system","content":"s"},{"role":"user","content":"ü 漢"}],"responses":["1","2","3"],"best":1}"#),
            try RewardItem(jsonLine: #"{"prompt":"p","responses":["1","2"],"scores":[0.25,3]}"#),
            try RewardItem(jsonLine: #"{"prompt":"p","response":"r","label":0}"#)
        ]
        let path = dir + "/out.jsonl"
        try RewardItemWriter.write(items, to: path)
        XCTAssertEqual(try RewardItemReader.readAll(path: path).items, items)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertEqual(text.split(separator: "\n").count, 4)
        XCTAssertTrue(text.contains(#""chosen":"x","rejected":"y""#))
        XCTAssertTrue(text.contains(#""scores":[0.25,3]"#))
        // No temporary files left behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["out.jsonl"])
    }

    func testAtomicWriterLeavesTargetAloneUntilCommit() throws {
        let path = try write("old\n", "target.jsonl")
        do {
            let w = try AtomicFileWriter(path: path)
            try w.write("new\n")
            XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "old\n")
            XCTAssertTrue(FileManager.default.fileExists(atPath: w.temporaryPath))
            // Dropped without commit: the temporary file goes, the target stays.
        }
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "old\n")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["target.jsonl"])
        try AtomicFileWriter.write("new\n", to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "new\n")
        XCTAssertThrowsError(try AtomicFileWriter(path: dir + "/missing-dir/x.jsonl"))
    }

    func testItemValidation() {
        XCTAssertThrowsError(try RewardItem(query: "q", responses: ["a"], label: .best(0)))
        XCTAssertThrowsError(try RewardItem(query: "q", responses: ["a", "b"], label: .binary(1)))
        XCTAssertThrowsError(try RewardItem(query: "q", responses: ["a", "b"], label: .scores([1, .nan])))
        XCTAssertNoThrow(try RewardItem(query: "q", responses: ["a", "b"], label: .scores([1, 2])))
    }

    func testJSONValueKeepsKindsApart() throws {
        XCTAssertEqual(
            try JSONValue.parse("[true, 1, 1.5, \"1\", null]"),
            .array([.bool(true), .integer(1), .number(1.5), .string("1"), .null]))
        XCTAssertThrowsError(try JSONValue.number(.infinity).serialized())
        XCTAssertEqual(try JSONValue.string("a\u{2028}b\u{7}").serialized(), "\"a\\u2028b\\u0007\"")
    }
}
