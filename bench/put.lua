-- wrk script: every request appends a version of one prompt (PUT /prompts/bench_writes).
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("PROMPTD_MASTER_KEY") or "sk-bench")
wrk.body = '{"prompt_id":"bench_writes","litellm_params":{"prompt_integration":"dotprompt","dotprompt_content":"---\\nmodel: gpt-4o\\ntemperature: 0.2\\n---\\nSystem: You write benchmarks.\\n\\nUser: Hello {{name}}"},"prompt_info":{"prompt_type":"db"}}'

