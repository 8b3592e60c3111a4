/// A token text as a dictionary key, equal only to the same UTF-8 bytes.
///
/// Swift's `String` compares and hashes by Unicode canonical equivalence: "e\u{301}" == "é", and
/// U+037E GREEK QUESTION MARK == ";". Vocabularies hold such pairs as different tokens (Gemma 3
/// has both semicolons, 236793 and 248374, and "▁có" precomposed and decomposed), and llama.cpp
/// looks texts up in a `std::string` map, byte for byte; a `[String: TokenID]` would merge them
/// and pick the wrong id.
public struct TokenText: Hashable, Sendable {
    public let text: String

    public init(_ text: String) { self.text = text }

    public static func == (a: TokenText, b: TokenText) -> Bool { a.text.utf8.elementsEqual(b.text.utf8) }

    public func hash(into hasher: inout Hasher) {
        var s = text
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
