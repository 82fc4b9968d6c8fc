"""A check with a real client: the official `openai` Python SDK calling promptd.

Run by scripts/openai-sdk-check.sh, which starts an echo upstream and promptd. The echo upstream
answers with the JSON body it received, so the assertions see exactly what promptd sent to the
model after rendering the stored prompt.
"""
import json
import os
import sys

from openai import OpenAI

base = os.environ["PROMPTD_URL"]
client = OpenAI(base_url=base, api_key=os.environ["PROMPTD_MASTER_KEY"])

# Non-streaming: the stored prompt is rendered and the caller's message appended.
resp = client.chat.completions.create(
    model="echo-gpt",
    messages=[{"role": "user", "content": "appended user message"}],
    extra_body={"prompt_id": "sdk_prompt", "prompt_variables": {"name": "Alice", "lang": "French"}},
)
sent = json.loads(resp.choices[0].message.content)
assert sent["messages"] == [
    {"role": "system", "content": "You are helpful to Alice."},
    {"role": "user", "content": "Greet Alice in French."},
    {"role": "user", "content": "appended user message"},
], sent
assert sent["temperature"] == 0.3 and sent["max_tokens"] == 50, sent
assert sent["model"] == "echo-upstream", sent
assert "prompt_id" not in sent and "prompt_variables" not in sent, sent

# Streaming: chunks arrive through the SDK's SSE parser and end cleanly.
stream = client.chat.completions.create(
    model="echo-gpt",
    messages=[],
    stream=True,
    extra_body={"prompt_id": "sdk_prompt", "prompt_variables": {"name": "Bob", "lang": "German"}},
)
text = "".join((c.choices[0].delta.content or "") for c in stream if c.choices)
sent = json.loads(text)
assert sent["stream"] is True, sent
assert sent["messages"][1] == {"role": "user", "content": "Greet Bob in German."}, sent

# Errors surface as the SDK's typed exceptions, with promptd's message (OpenAI's error shape).
import openai

try:
    client.chat.completions.create(model="echo-gpt", messages=[], extra_body={"prompt_id": "does_not_exist"})
except openai.NotFoundError as e:
    assert e.status_code == 404, e
    assert "Prompt does_not_exist not found" in str(e), str(e)
    assert e.body["message"] == "Prompt does_not_exist not found", e.body
else:
    sys.exit("an unknown prompt_id must fail")

try:
    client.chat.completions.create(model="echo-gpt", messages=[],
                                   extra_body={"prompt_id": "sdk_prompt", "prompt_variables": {"name": 5}})
except openai.BadRequestError as e:
    assert "Invalid type for field 'name'" in str(e), str(e)
else:
    sys.exit("a wrongly typed variable must fail")

# The models of model_list, as client.models.list() expects them.
ids = [m.id for m in client.models.list()]
assert ids == ["echo-gpt"], ids

print("openai SDK check: 5 passed, 0 failed")
