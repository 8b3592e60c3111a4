import ArgumentParser
import Foundation
import Transformer

/// `grm tokenize`: text to ids, as a JSON array on one line.
struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the token ids of a text (or a file's exact bytes) as a JSON array.")

    @Option(help: "GGUF model whose tokenizer to use.")
    var model: String
    @Flag(help: "Parse written special tokens (<|im_start|>) into their ids (llama.cpp's parse_special).")
    var special = false
    @Flag(help: "Add BOS/EOS where the model asks for them (tokenizer.ggml.add_bos_token).")
    var addSpecial = false
    @Option(help: "Read the text from this file (its bytes exactly).")
    var file: String?
    @Argument(help: "The text (when no --file is given).")
    var text: String?

    func validate() throws {
        if (file == nil) == (text == nil) { throw ValidationError("give either --file FILE or a TEXT argument") }
    }

    func run() throws {
        let tok = try Tokenizer(path: model)
        let bytes: [UInt8]
        if let file {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ValidationError("cannot read \(file)")
            }
            bytes = [UInt8](data)
        } else {
            bytes = Array(text!.utf8)
        }
        let ids = tok.encode(bytes: bytes, addSpecial: addSpecial, parseSpecial: special)
        print("[" + ids.map(String.init).joined(separator: ",") + "]")
    }
}

/// `grm detokenize`: ids to text.
struct Detokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the text of token ids.")

    @Option(help: "GGUF model whose tokenizer to use.")
    var model: String
    @Flag(help: "Render control tokens (<|im_end|>) as their text.")
    var special = false
    @Argument(help: "Token ids (separated by spaces or commas; a JSON array works too).")
    var ids: [String]

    func run() throws {
        let tok = try Tokenizer(path: model)
        let parts = ids.joined(separator: " ")
            .split(whereSeparator: { " ,[]\n\t".contains($0) })
        var list: [TokenID] = []
        for p in parts {
            guard let v = TokenID(p), v >= 0, Int(v) < tok.vocabulary.count else {
                throw ValidationError("'\(p)' is not a token id of this model (0..<\(tok.vocabulary.count))")
            }
            list.append(v)
        }
        FileHandle.standardOutput.write(Data(tok.decode(list, special: special)))
        print()
    }
}
