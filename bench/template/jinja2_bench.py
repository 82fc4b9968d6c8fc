"""Python side of bench/template/compare.sh: the same templates as
crates/promptd-template/benches/render.rs, rendered the way LiteLLM 1.108 does it
(jinja2 ImmutableSandboxedEnvironment with autoescape, yaml.safe_load frontmatter, its
role-line splitter). Prints one JSON object: nanoseconds per operation.

- parse/NAME: frontmatter regex + yaml.safe_load + compiling the body (LiteLLM's load step)
- render/NAME: schema check + an already compiled Template.render + role splitting: the
  fairest engine-to-engine comparison, though LiteLLM never keeps the compiled template
- request/NAME: LiteLLM's real per-request path, which compiles the body on every render"""
import json
import re
import statistics
import sys
import timeit

import jinja2
import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

TYPICAL = """---
model: gpt-4o-mini
temperature: 0.7
max_tokens: 200
input:
  schema:
    name: string
    company: string
    topic: string
---
System: You are a friendly assistant working for {{ company }}.

User: Say hello to {{ name }} and tell them one fact about {{ topic }}."""

LOOP = """---
model: gpt-4o
temperature: 0.2
---
System: You answer questions about {{ product | upper }}.
{% if strict %}Only use the documents below.{% endif %}

User: Documents:
{% for d in docs %}
- [{{ loop.index }}] {{ d.title | title }}: {{ d.body | trim }}
{% endfor %}
Question: {{ question }}"""

TYPICAL_VARS = {"name": "Alice", "company": "Acme", "topic": "owls"}
LOOP_VARS = {
    "product": "widget",
    "strict": True,
    "docs": [{"title": f"document number {i}", "body": "  Some body text that goes on for a little while.  "} for i in range(20)],
    "question": "How do I reset it?",
}

ENV = ImmutableSandboxedEnvironment(
    loader=jinja2.DictLoader({}),
    autoescape=jinja2.select_autoescape(["html", "xml"], default_for_string=True),
)
FRONTMATTER = re.compile(r"^---\s*\n(.*?)\n---\s*\n(.*)$", re.DOTALL)


def parse(text):
    """LiteLLM's PromptManager.parse_frontmatter + PromptTemplate + compiling the body."""
    m = FRONTMATTER.match(text)
    if m:
        meta, body = (yaml.safe_load(m.group(1)) or {}), m.group(2)
    else:
        meta, body = {}, text
    return meta, ENV.from_string(body.strip())


def to_messages(rendered):
    """LiteLLM's DotpromptManager._convert_to_messages."""
    messages, role, buf = [], None, []
    content = rendered.strip()
    for raw in content.split("\n"):
        line = raw.strip()
        for marker, r in (("System:", "system"), ("User:", "user"), ("Assistant:", "assistant")):
            if line.startswith(marker):
                if role and buf:
                    messages.append({"role": role, "content": "\n".join(buf).strip()})
                role, buf = r, [line[len(marker):].strip()]
                break
        else:
            if role:
                buf.append(line)
            else:
                role, buf = "user", [line]
    if role and buf and "\n".join(buf).strip():
        messages.append({"role": role, "content": "\n".join(buf).strip()})
    if not messages and content:
        messages = [{"role": "user", "content": content}]
    return messages


def validate(meta, variables):
    """LiteLLM's _validate_input (type checks of given variables)."""
    types = {"string": str, "str": str, "number": (int, float), "integer": int, "int": int,
             "float": float, "boolean": bool, "bool": bool, "array": list, "list": list,
             "object": dict, "dict": dict}
    schema = (meta.get("input") or {}).get("schema") or {}
    for name, ty in schema.items():
        if name in variables and not isinstance(variables[name], types.get(ty.lower(), str)):
            raise ValueError(name)


def per_op_ns(fn):
    """Median of 7 timed batches (each at least 0.2 s), in nanoseconds per call; the median
    is what criterion's estimate is closest to."""
    timer = timeit.Timer(fn)
    n, _ = timer.autorange()
    return statistics.median(timer.repeat(repeat=7, number=n)) / n * 1e9


def main():
    out = {"python": sys.version.split()[0], "jinja2": jinja2.__version__, "pyyaml": yaml.__version__}
    for name, text, variables in (("typical", TYPICAL, TYPICAL_VARS), ("loop", LOOP, LOOP_VARS)):
        meta, tmpl = parse(text)
        assert to_messages(tmpl.render(**variables)), name
        out[f"parse/{name}"] = per_op_ns(lambda: parse(text))

        def render():
            validate(meta, variables)
            return to_messages(tmpl.render(**variables))

        out[f"render/{name}"] = per_op_ns(render)

        def request():
            # What LiteLLM does on every request: PromptManager.render calls
            # jinja_env.from_string(template.content) each time, so it compiles per call.
            validate(meta, variables)
            return to_messages(ENV.from_string(tmpl_source).render(**variables))

        tmpl_source = FRONTMATTER.match(text).group(2).strip()
        out[f"request/{name}"] = per_op_ns(request)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
