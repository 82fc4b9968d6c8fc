// The JavaScript reference (npm `dotprompt`) rendering bench/dotprompt/case.json: compiled once,
// then rendered N times (the fair engine-to-engine comparison), and `render` per call (parse +
// compile + render, what a caller without a cache does). Prints µs per render.
import { readFileSync } from 'node:fs';
import { Dotprompt } from 'dotprompt';

const n = Number(process.argv[3] || 20000);
const c = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const env = new Dotprompt();
const fn = await env.compile(c.template);
for (let i = 0; i < 2000; i++) await fn(c.data);
let t = process.hrtime.bigint();
for (let i = 0; i < n; i++) await fn(c.data);
const compiled = Number(process.hrtime.bigint() - t) / n / 1000;
const m = Math.max(1, Math.floor(n / 10));
t = process.hrtime.bigint();
for (let i = 0; i < m; i++) await env.render(c.template, c.data);
const full = Number(process.hrtime.bigint() - t) / m / 1000;
console.log(JSON.stringify({ compiled_us: compiled, render_us: full }));
