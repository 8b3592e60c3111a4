/// Chat templates for GGUF files that carry none but whose family is known. Hugging Face ships the
/// template in tokenizer_config.json, and some GGUF conversions drop `tokenizer.chat_template`
/// (the Gemma 3 270M file `weights/fetch.sh gemma3` fetches has none); ChatML would then render a
/// prompt the model was never trained on.
enum BuiltinChatTemplates {
    /// Gemma 3's template as in google/gemma-3-*-it's tokenizer_config.json (identical across the
    /// family; Tests/TransformerTests/Fixtures/chat_templates/gemma3.jinja is the same text).
    static let gemma3 = """
        {{ bos_token }}
        {%- if messages[0]['role'] == 'system' -%}
            {%- if messages[0]['content'] is string -%}
                {%- set first_user_prefix = messages[0]['content'] + '

        ' -%}
            {%- else -%}
                {%- set first_user_prefix = messages[0]['content'][0]['text'] + '

        ' -%}
            {%- endif -%}
            {%- set loop_messages = messages[1:] -%}
        {%- else -%}
            {%- set first_user_prefix = "" -%}
            {%- set loop_messages = messages -%}
        {%- endif -%}
        {%- for message in loop_messages -%}
            {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
                {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
            {%- endif -%}
            {%- if (message['role'] == 'assistant') -%}
                {%- set role = "model" -%}
            {%- else -%}
                {%- set role = message['role'] -%}
            {%- endif -%}
            {{ '<start_of_turn>' + role + '
        ' + (first_user_prefix if loop.first else "") }}
            {%- if message['content'] is string -%}
                {{ message['content'] | trim }}
            {%- elif message['content'] is iterable -%}
                {%- for item in message['content'] -%}
                    {%- if item['type'] == 'image' -%}
                        {{ '<start_of_image>' }}
                    {%- elif item['type'] == 'text' -%}
                        {{ item['text'] | trim }}
                    {%- endif -%}
                {%- endfor -%}
            {%- else -%}
                {{ raise_exception("Invalid content type") }}
            {%- endif -%}
            {{ '<end_of_turn>
        ' }}
        {%- endfor -%}
        {%- if add_generation_prompt -%}
            {{'<start_of_turn>model
        '}}
        {%- endif -%}
        """

    /// The built-in template for a file's `general.architecture`, if there is one.
    static func forArchitecture(_ architecture: String?) -> (name: String, source: String)? {
        switch architecture {
        case "gemma3": return ("gemma3", gemma3)
        default: return nil
        }
    }
}
