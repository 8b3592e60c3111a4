#!/usr/bin/env python3
"""Expected chat-template renders for ChatTemplateTests (writes chat-templates.json).

Renders each template in chat_templates/ the way Hugging Face's apply_chat_template does:
jinja2 with trim_blocks and lstrip_blocks, loop controls, `raise_exception`, `strftime_now`
and a `tojson` filter that is json.dumps(ensure_ascii=False, indent=..., ...). The render
context is HF's: messages, tools (None unless given), documents=None, add_generation_prompt,
and the special tokens. strftime_now is pinned to 2025-03-09 14:05:07 so renders are stable.

smollm2.jinja is the default GGUF's `tokenizer.chat_template` (the test checks that they agree);
the other templates are copied from the models' tokenizer_config.json (Qwen2.5-Instruct,
Llama-3.2-Instruct, Gemma-3-it).

Usage: pip install jinja2 && python3 make_chat_fixtures.py
"""
import datetime
import json
import os

import jinja2
from jinja2.ext import loopcontrols

HERE = os.path.dirname(os.path.abspath(__file__))
NOW = datetime.datetime(2025, 3, 9, 14, 5, 7)


class TemplateError(Exception):
    pass


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return NOW.strftime(fmt)


def render(source, messages, add_generation_prompt, tokens, tools=None):
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    template = env.from_string(source)
    return template.render(messages=messages, tools=tools, documents=None,
                           add_generation_prompt=add_generation_prompt, **tokens)


TOKENS = {
    "smollm2": {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>"},
    "qwen2.5": {"bos_token": None, "eos_token": "<|im_end|>"},
    "llama3.2": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "gemma3": {"bos_token": "<bos>", "eos_token": "<eos>"},
}

SINGLE = [{"role": "user", "content": "Hello, how are you?"}]
MULTI = [
    {"role": "system", "content": "You are a terse assistant."},
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "4"},
    {"role": "user", "content": "  And 3+3? Réponds en français, s'il te plaît: \"six\"  \n"},
]
WEATHER_TOOL = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather in a city (°C)",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
TOOL_CALL = {"role": "assistant", "content": "",
             "tool_calls": [{"type": "function", "function": {"name": "get_weather",
                                                              "arguments": {"city": "Zürich", "unit": "c"}}}]}
TOOL_RESULT = {"role": "tool", "content": "{\"temp\": 21}"}

# (name, template, messages, tools, add_generation_prompt)
CASES = []
for t in ["smollm2", "qwen2.5", "llama3.2", "gemma3"]:
    for gen in (False, True):
        CASES.append((f"{t} single user gen={gen}", t, SINGLE, None, gen))
        CASES.append((f"{t} system+user+assistant+user gen={gen}", t, MULTI, None, gen))
# Template-specific branches and errors.
CASES += [
    ("smollm2 missing content (error)", "smollm2", [{"role": "user"}], None, True),
    ("smollm2 assistant only", "smollm2", [{"role": "assistant", "content": "Hi!"}], None, False),
    ("qwen2.5 tools + tool call + tool results", "qwen2.5",
     [{"role": "user", "content": "Weather in Zürich?"}, TOOL_CALL, TOOL_RESULT, TOOL_RESULT], [WEATHER_TOOL], True),
    ("qwen2.5 tools with system", "qwen2.5", MULTI, [WEATHER_TOOL], True),
    ("llama3.2 two tool calls (error)", "llama3.2",
     [{"role": "user", "content": "x"},
      {"role": "assistant", "content": "", "tool_calls": [TOOL_CALL["tool_calls"][0], TOOL_CALL["tool_calls"][0]]}],
     None, True),
    ("llama3.2 tool call + ipython result", "llama3.2",
     [{"role": "user", "content": "Weather?"}, TOOL_CALL, {"role": "tool", "content": {"temp": 21}}], None, True),
    ("llama3.2 tools in user message", "llama3.2", MULTI, [WEATHER_TOOL], True),
    ("gemma3 roles not alternating (error)", "gemma3",
     [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], None, True),
    ("gemma3 system only (no turns)", "gemma3", [{"role": "system", "content": "S"}], None, True),
    ("gemma3 content parts", "gemma3",
     [{"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
      {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "  What is this?  "}]}], None, True),
]

# Small templates for single constructs (whitespace control, scoping, operators, filters),
# rendered with MULTI as messages: (name, source).
SNIPPETS = [
    ("trim_blocks and lstrip_blocks", "A\n  {% if true %}\n    x\n  {% endif %}\nB\n{# c #}\nC  {% if true %}y{% endif %}\n"),
    ("minus and plus modifiers", "a  \n  {%- if true -%}  \n  b  \n  {%- endif +%}\nc\n  {%+ if true %}d{% endif %}\n {{- ' e ' -}} \n f"),
    ("expression tags keep blanks", "  {{ 'x' }}\n  {{ 'y' }}\n"),
    ("for loop variables", "{% for m in messages %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.length }}"
     "{% if loop.first %}F{% endif %}{% if loop.last %}L{% endif %}:{{ m.role }};{% endfor %}"),
    ("for else, filter and loop controls", "{% for m in messages if m.role != 'system' %}{% if loop.index0 == 2 %}{% break %}{% endif %}"
     "{% if m.role == 'assistant' %}{% continue %}{% endif %}{{ m.role }},{% endfor %}|{% for x in [] %}no{% else %}empty{% endfor %}"),
    ("set scoping and namespace", "{% set x = 1 %}{% set ns = namespace(n=0, seen=false) %}{% for m in messages %}{% set x = x + 1 %}"
     "{% set ns.n = ns.n + 1 %}{% if m.role == 'user' %}{% set ns.seen = true %}{% endif %}{% endfor %}{{ x }} {{ ns.n }} {{ ns.seen }}"),
    ("if elif else", "{% for m in messages %}{% if m.role == 'system' %}S{% elif m.role == 'user' %}U{% elif m.role == 'assistant' %}A{% else %}?{% endif %}{% endfor %}"),
    ("slicing", "{{ messages[1:]|length }} {{ messages[-1]['role'] }} {{ 'abcdef'[1:4] }} {{ 'abcdef'[::-1] }} {{ 'abcdef'[-2:] }} {{ [1,2,3,4,5][::2]|tojson }} {{ messages[:1][0].role }}"),
    ("operators", "{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 1 + 2 * 3 }} {{ 'a' ~ 1 ~ none }} {{ 'ab' * 2 }} {{ 1 == 1.0 }} {{ 'b' > 'a' }} {{ 'x' in 'xyz' }} {{ 'q' not in ['a'] }}"),
    ("and or not and conditional", "{{ none or 'd' }} {{ 'a' and 'b' }} {{ not messages }} {{ 'y' if messages else 'n' }} {{ ('y' if false) is defined }} [{{ 'y' if false }}]"),
    ("tests", "{{ messages is iterable }} {{ messages[0] is mapping }} {{ 'x' is string }} {{ 3 is number }} {{ none is none }} {{ undefined_name is defined }} {{ tools is none }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ messages[0].nope is undefined }}"),
    ("filters", "{{ '  pad  '|trim }}|{{ messages|length }}|{{ 'Hi'|upper }}{{ 'Hi'|lower }}|{{ missing|default('dflt') }}|{{ ''|default('e', true) }}|{{ ['a','b']|join('-') }}|{{ 'aXbX'|replace('X', '.') }}|{{ '42'|int + 1 }}|{{ [3,4]|first }}{{ [3,4]|last }}|{{ 'x'|string }}|{{ {'k': 1}|items|list|length }}"),
    ("tojson", "{{ messages[0]|tojson }}\n{{ {'a': [1, 2.5, true, none], 'é': 'ü\\n\"'}|tojson(indent=2) }}\n{{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }}\n{{ 'x'|tojson(separators=[',', ':']) }}"),
    ("string methods", "{{ '  a b  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ 'a,b,c'.split(',')|length }}|{{ ' a  b '.split()|join('+') }}|{{ 'hello'.startswith('he') }}|{{ 'hello'.endswith('lo') }}|{{ 'a</think>b'.split('</think>')[-1] }}|{{ 'Ab'.upper() }}|{{ 'a-b'.replace('-', '+') }}"),
    ("dict methods", "{% for k, v in messages[0].items() %}{{ k }}={{ v }};{% endfor %}{{ messages[0].get('role') }} {{ messages[0].get('nope', 'dflt') }} {{ messages[0].keys()|list|length }}"),
    ("string escapes and concatenation", "{{ 'a\\tb\\'c' + \"d\\\"e\" + 'f' 'g' }}"),
    ("strftime_now", "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S %A %B %j %y %I %p %a %%') }}"),
    ("raise in a loop (error)", "{% for m in messages %}{% if loop.index0 == 2 %}{{ raise_exception('bad role ' + m.role) }}{% endif %}{% endfor %}"),
    ("undefined attribute of undefined (error)", "{{ nothing.attr }}"),
    ("chained comparisons", "{{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 == 1 != 2 }} {{ 'a' in 'abc' in 'xabcx' }}"),
    ("code points, not graphemes", "{{ 'e\u0301x'|length }} {{ 'e\u0301x'[1] == '\u0301' }} {{ 'e\u0301x'[::-1]|length }} {% for c in 'e\u0301' %}[{{ c|length }}]{% endfor %}"),
    ("undefined as iterable", "{{ nothing is iterable }} {{ nothing is mapping }} {{ 'x' in nothing }} {% for x in nothing %}no{% endfor %}{{ nothing|length }}"),
    ("python escapes", "{{ '\\101\\x42\\u0043\\q\\a'|tojson }}"),
]


def random_whitespace_templates(count, seed=5):
    """Random mixes of text, blanks, newlines and tags with every modifier, for whitespace control."""
    import random
    rng = random.Random(seed)
    texts = ["", " ", "  ", "\t", "\n", " \n", "\n  ", "\n\n", "a", " b ", "c\n", "\n d", "\t\n", " \t "]
    def tag(body, kind):
        left = rng.choice(["", "", "-", "+"]) if kind != "{{" else rng.choice(["", "-"])
        right = rng.choice(["", "", "-", "+"]) if kind != "{{" else rng.choice(["", "-"])
        close = {"{%": "%}", "{{": "}}", "{#": "#}"}[kind]
        return kind + left + " " + body + " " + right + close
    out = []
    for _ in range(count):
        parts, depth = [], 0
        for _ in range(rng.randint(3, 12)):
            parts.append(rng.choice(texts))
            r = rng.random()
            if r < 0.25:
                parts.append(tag(rng.choice(["if true", "if false", "for x in [1, 2]"]), "{%"))
                depth += 1
                parts.append(("endif", "endfor"))
            elif r < 0.45 and depth > 0:
                # close the innermost open block
                i = max(k for k, p in enumerate(parts) if isinstance(p, tuple))
                opener = parts[i - 1]
                parts[i] = ""
                parts.append(tag("endfor" if "for" in opener else "endif", "{%"))
                depth -= 1
            elif r < 0.7:
                parts.append(tag(rng.choice(["'x'", "' y '", "'\\n'"]), "{{"))
            elif r < 0.8:
                parts.append(tag("note", "{#"))
            elif r < 0.9:
                parts.append(tag("set v = 1", "{%"))
        while depth > 0:
            i = max(k for k, p in enumerate(parts) if isinstance(p, tuple))
            opener = parts[i - 1]
            parts[i] = ""
            parts.append(rng.choice(texts))
            parts.append(tag("endfor" if "for" in opener else "endif", "{%"))
            depth -= 1
        parts.append(rng.choice(texts))
        out.append("".join(p for p in parts if isinstance(p, str)))
    return out


SNIPPETS += [(f"random whitespace {n}", src) for n, src in enumerate(random_whitespace_templates(300))]


def random_expression_templates(count, seed=7):
    """Random expressions over small values, printed through tojson (exact values, no Python repr)."""
    import random
    rng = random.Random(seed)
    atoms = ["0", "1", "2", "-3", "7", "2.5", "0.1", "'a'", "'Ab c'", "''", "' x '", "[1, 2, 3]", "[]", "['a', 'b']",
             "none", "true", "false", "messages[0].role", "messages|length", "{'k': 1}", "nothing", "'é'"]
    binops = ["+", "-", "*", "/", "//", "%", "~", "==", "!=", "<", ">=", "in", "not in", "and", "or"]
    def expr(d):
        r = rng.random()
        if d == 0 or r < 0.3:
            return rng.choice(atoms)
        if r < 0.7:
            return "(" + expr(d - 1) + " " + rng.choice(binops) + " " + expr(d - 1) + ")"
        if r < 0.8:
            return "(not " + expr(d - 1) + ")"
        if r < 0.9:
            return "(" + expr(d - 1) + " if " + expr(d - 1) + " else " + expr(d - 1) + ")"
        return "(" + expr(d - 1) + rng.choice(["|length", "|trim", "[1:]", "[::-1]", "[0]", " is string", " is defined",
                                                "|string", "|first", "|default('d')"]) + ")"
    return ["{{ " + expr(3) + "|tojson }}" for _ in range(count)]


SNIPPETS += [(f"random expression {n}", src) for n, src in enumerate(random_expression_templates(300))]


def main():
    templates = {}
    for name in TOKENS:
        with open(os.path.join(HERE, "chat_templates", name + ".jinja"), encoding="utf-8") as f:
            templates[name] = f.read()
    out = []
    for name, t, messages, tools, gen in CASES:
        case = {"name": name, "template": t, "messages": messages, "add_generation_prompt": gen}
        case.update({k: v for k, v in TOKENS[t].items()})
        if tools is not None:
            case["tools"] = tools
        try:
            case["expected"] = render(templates[t], messages, gen, TOKENS[t], tools)
        except (TemplateError, jinja2.exceptions.UndefinedError, TypeError) as e:
            case["error"] = f"{type(e).__name__}: {e}"
        out.append(case)
    snippets = []
    for name, source in SNIPPETS:
        case = {"name": name, "source": source}
        try:
            case["expected"] = render(source, MULTI, True, TOKENS["smollm2"])
        except (TemplateError, jinja2.exceptions.UndefinedError, TypeError, ZeroDivisionError) as e:
            case["error"] = f"{type(e).__name__}: {e}"
        snippets.append(case)
    with open(os.path.join(HERE, "chat-templates.json"), "w", encoding="utf-8") as f:
        json.dump({"jinja2": jinja2.__version__, "now": NOW.isoformat(), "cases": out, "snippets": snippets}, f,
                  ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(out)} cases and {len(snippets)} snippets")


if __name__ == "__main__":
    main()
