"""Checks promptd's webhook signatures with the real `standardwebhooks` verifier from PyPI.

Run by scripts/webhooks-check.sh against a running promptd (PROMPTD_URL, PROMPTD_KEY) that
allows private targets: registers an endpoint served here, makes changes, and verifies every
delivery with standardwebhooks.Webhook(secret).verify(body, headers). A tampered body, a
wrong secret and a stale timestamp must be refused. Prints `check: N passed, M failed`.
"""

import http.server
import json
import os
import queue
import sys
import threading
import time
import urllib.request

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

BASE = os.environ["PROMPTD_URL"]
KEY = os.environ["PROMPTD_KEY"]
received = queue.Queue()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        received.put(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def call(method, path, body=None):
    req = urllib.request.Request(
        BASE + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {KEY}", "content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


passed = failed = 0


def check(name, ok):
    global passed, failed
    print(("PASS " if ok else "FAIL ") + name)
    if ok:
        passed += 1
    else:
        failed += 1


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}/hook"
hook = call("POST", "/webhooks", {"url": url, "description": "standardwebhooks check"})
secret = hook["secret"]
check("the secret is whsec_ + base64", secret.startswith("whsec_"))
verifier = Webhook(secret)

call("POST", "/prompts", {
    "prompt_id": "webhook_check",
    "litellm_params": {"prompt_integration": "dotprompt", "dotprompt_content": "User: hello {{name}}"},
    "prompt_info": {"prompt_type": "db", "environment": "staging"},
})
call("POST", "/prompts/webhook_check/promote", {"from_environment": "staging", "to_environment": "production"})
call("POST", f"/webhooks/{hook['id']}/test", {})

types = []
for _ in range(3):
    headers, body = received.get(timeout=15)
    try:
        payload = verifier.verify(body, headers)
        check(f"standardwebhooks verifies {payload['type']}", True)
        types.append(payload["type"])
    except WebhookVerificationError as e:
        check(f"standardwebhooks verifies a delivery ({e})", False)
        continue
    tampered = body.replace(b"webhook_check", b"webhook_chexk")
    try:
        verifier.verify(tampered if tampered != body else body + b" ", headers)
        check("a tampered body is refused", False)
    except WebhookVerificationError:
        check("a tampered body is refused", True)
    try:
        Webhook("whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=").verify(body, headers)
        check("another secret is refused", False)
    except WebhookVerificationError:
        check("another secret is refused", True)
    stale = dict(headers, **{"webhook-timestamp": str(int(time.time()) - 3600)})
    try:
        verifier.verify(body, stale)
        check("a timestamp an hour old is refused", False)
    except WebhookVerificationError:
        check("a timestamp an hour old is refused", True)

check("create, promote and test messages arrived",
      sorted(types) == ["prompt.create", "prompt.promote", "webhook.test"])
server.shutdown()
print(f"check: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
