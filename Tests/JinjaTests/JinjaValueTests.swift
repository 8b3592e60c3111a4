import XCTest
@testable import Jinja

// The template language's values; templates themselves are tested through ChatTemplate
// (Tests/TransformerTests/ChatTemplateTests.swift) against jinja2's renders.
final class JinjaValueTests: XCTestCase {
    func testJSONKeepsKeyOrderAndDumpsLikePython() throws {
        let v = try JinjaValue.parseJSON(#"{"z": 1, "a": [true, null, 2.50, -3e2, "\u00e9\n\ud83d\ude00"], "m": {}}"#)
        XCTAssertEqual(try v.json(indent: nil, line: 0), #"{"z": 1, "a": [true, null, 2.5, -300.0, "é\n😀"], "m": {}}"#)
        XCTAssertEqual(try JinjaValue.parseJSON(#"{"a": 1, "b": [2]}"#), try JinjaValue.parseJSON(#"{"b": [2], "a": 1.0}"#))
        XCTAssertNotEqual(try JinjaValue.parseJSON(#"{"a": 1}"#), try JinjaValue.parseJSON(#"{"a": 1, "b": 2}"#))
        XCTAssertNotEqual(JinjaValue.string("\u{E9}"), .string("e\u{301}"))  // code points, as Python
        XCTAssertFalse(JinjaValue.contains("e\u{301}", "\u{E9}"))
        XCTAssertTrue(JinjaValue.contains("abc", "bc"))
        XCTAssertEqual(JinjaValue.pythonFloat(1e16), "1e+16")
        XCTAssertEqual(JinjaValue.pythonFloat(1.5e-7), "1.5e-07")
        XCTAssertEqual(JinjaValue.pythonFloat(0.1), "0.1")
    }
}
