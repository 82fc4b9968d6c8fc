"""The real LiteLLM proxy with promptd as its prompt store, run by scripts/litellm-gateway-check.sh.

`setup` stores the prompt in promptd (a development draft and a production version) and prints a
key that may read only that prompt; `check` sends chat requests with `prompt_id` and
`prompt_variables` to LiteLLM, whose upstream echoes the body it received, and checks that
promptd's production messages arrived with the variables filled in.
"""
import json
import os
import sys
import urllib.error
import urllib.request

PROMPT_ID = "support_reply"
DRAFT = "---\nmodel: echo-gpt\n---\nUser: DRAFT {{name}}"
PRODUCTION = (
    "---\nmodel: echo-gpt\ntemperature: 0.2\ninput:\n  schema:\n    name: string\n    topic: string\n---\n"
    "System: You are Acme's support agent for {{ topic }}. Be brief.\n\n"
    "User: Hello, I am {{name}}."
)
BRANCHY_ID = "branchy_reply"
BRANCHY = "User: Hello{% if vip %}, valued customer{% endif %} {{ name }}."
PRODUCTION_V2 = "---\nmodel: echo-gpt\n---\nSystem: SECOND production version for {{ topic }}.\n\nUser: {{ name }}"


def call(method, url, key, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def store(env, content, prompt_id=PROMPT_ID):
    promptd, master = os.environ["PROMPTD_URL"], os.environ["PROMPTD_MASTER_KEY"]
    body = {
        "prompt_id": prompt_id,
        "litellm_params": {"prompt_integration": "dotprompt", "dotprompt_content": content},
        "prompt_info": {"prompt_type": "db", "environment": env},
    }
    status, out = call("POST", f"{promptd}/prompts", master, body)
    assert status == 200, (status, out)


def setup():
    promptd, master = os.environ["PROMPTD_URL"], os.environ["PROMPTD_MASTER_KEY"]
    store("production", PRODUCTION)
    store("development", DRAFT)
    store("production", BRANCHY, BRANCHY_ID)
    status, out = call(
        "POST",
        f"{promptd}/key/generate",
        master,
        {"key_alias": "litellm-gateway", "user_role": "internal_user", "metadata": {"prompts": [PROMPT_ID, BRANCHY_ID]}},
    )
    assert status == 200, (status, out)
    print(out["key"])


passed = 0
failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name}\n     {detail}")


def upstream_body(answer):
    """What the echo upstream received, from LiteLLM's chat completion answer."""
    return json.loads(answer["choices"][0]["message"]["content"])


def chat(variables, prompt_id=PROMPT_ID):
    litellm, key = os.environ["LITELLM_URL"], os.environ["LITELLM_KEY"]
    body = {
        "model": "echo-gpt",
        "prompt_id": prompt_id,
        "prompt_variables": variables,
        "messages": [{"role": "user", "content": "My invoice is wrong."}],
    }
    return call("POST", f"{litellm}/chat/completions", key, body)


def run_checks():
    promptd = os.environ["PROMPTD_URL"]
    status, out = call(
        "GET",
        f"{promptd}/beta/litellm_prompt_management?prompt_id={PROMPT_ID}&environment=production",
        os.environ["PROMPTD_MASTER_KEY"],
    )
    check(
        "promptd serves the production messages with {name} placeholders",
        status == 200
        and out["prompt_template"]
        == [
            {"role": "system", "content": "You are Acme's support agent for {topic}. Be brief."},
            {"role": "user", "content": "Hello, I am {name}."},
        ],
        f"{status} {out}",
    )

    status, out = chat({"name": "Ada", "topic": "billing"})
    sent = upstream_body(out) if status == 200 else {}
    expected = [
        {"role": "system", "content": "You are Acme's support agent for billing. Be brief."},
        {"role": "user", "content": "Hello, I am Ada."},
        {"role": "user", "content": "My invoice is wrong."},
    ]
    check(
        "a chat request through LiteLLM reaches the upstream with promptd's production messages filled in",
        status == 200 and sent.get("messages") == expected,
        f"{status} {json.dumps(sent.get('messages', out))}",
    )
    check(
        "the production version's parameters (temperature) reach the upstream",
        sent.get("temperature") == 0.2,
        json.dumps(sent),
    )

    status, out = chat({"name": "Grace", "topic": "shipping"})
    sent = upstream_body(out) if status == 200 else {}
    check(
        "a second request fills other values into LiteLLM's cached template",
        status == 200
        and [m["content"] for m in sent.get("messages", [])]
        == ["You are Acme's support agent for shipping. Be brief.", "Hello, I am Grace.", "My invoice is wrong."],
        f"{status} {json.dumps(sent.get('messages', out))}",
    )

    # What docs/litellm-gateway.md says LiteLLM caches: the template it fetched, per prompt,
    # until the proxy restarts. A new production version does not reach a running proxy.
    store("production", PRODUCTION_V2)
    status, out = chat({"name": "Ada", "topic": "billing"})
    sent = upstream_body(out) if status == 200 else {}
    check(
        "a running LiteLLM keeps serving the version it cached (as docs/litellm-gateway.md says)",
        status == 200 and sent.get("messages", [{}])[0].get("content", "").startswith("You are Acme's support agent"),
        f"{status} {json.dumps(sent.get('messages', out))}",
    )

    # A template substitution cannot express: promptd answers 422, so LiteLLM fails the request
    # instead of sending the model a wrong prompt.
    status, out = chat({"name": "Ada", "vip": True}, BRANCHY_ID)
    check(
        "a template with a condition on a variable fails through LiteLLM (promptd's 422) instead of reaching the model",
        status != 200 and "422" in str(out),
        f"{status} {out}",
    )
    print(f"     (LiteLLM answered {status}: {str(out)[:160]})")

    print(f"LiteLLM gateway check: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    {"setup": setup, "check": run_checks}[sys.argv[1]]()
