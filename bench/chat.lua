-- wrk script: POST /chat/completions with prompt_id (echo_prompt of the anchor's gen_config.py,
-- model echo-gpt -> the echo upstream). STREAM=1 asks for a streamed (SSE) answer; wrk counts a
-- request when the whole chunked body has arrived.
-- KEY: the bearer key (defaults to the anchor's LiteLLM master key).
local key = os.getenv("KEY") or "sk-anchor-3f9a2c7e5b1d4086a7e2c9f0b3d5e8a1"
local stream = os.getenv("STREAM") == "1"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key
wrk.body = '{"model": "echo-gpt", "prompt_id": "echo_prompt", '
  .. '"prompt_variables": {"name": "Ada", "lang": "French"}, '
  .. '"messages": [{"role": "user", "content": "Please keep it short."}], '
  .. '"stream": ' .. (stream and "true" or "false") .. '}'
