import ArgumentParser
import Foundation
import Jinja
import Transformer

/// `grm template`: a model's chat template applied to a conversation.
struct Template: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Print the prompt a model's chat template (tokenizer.chat_template; if absent, the family's built-in one or ChatML) makes of messages.")

    @Option(help: "GGUF model whose chat template to use.")
    var model: String
    @Option(help: "JSON file: an array of messages ({\"role\": ..., \"content\": ...}, other fields kept).")
    var messages: String
    @Option(help: "JSON file: an array of tool definitions, passed to the template as `tools`.")
    var tools: String?
    @Flag(help: "End with the header of an assistant turn (add_generation_prompt).")
    var addGenerationPrompt = false

    func run() throws {
        func read(_ path: String) throws -> String {
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
            return String(decoding: data, as: UTF8.self)
        }
        let template = try ModelChatTemplate(path: model)
        if !template.fromModel {
            printError(
                "grm template: \(model) has no tokenizer.chat_template; using \(template.builtin.map { "the built-in \($0) template" } ?? "ChatML")")
        }
        do {
            let prompt = try template.render(
                messagesJSON: try read(messages), toolsJSON: try tools.map(read),
                addGenerationPrompt: addGenerationPrompt)
            FileHandle.standardOutput.write(Data(prompt.utf8))
        } catch let error as ChatTemplateError {
            printError("grm template: \(error)")
            throw ExitCode(2)
        }
    }
}
