// The JavaScript reference (npm `dotprompt`) rendering bench/dotprompt/case.json: compiled once,
// then rendered N times (the fair engine-to-engine comparison), and `render` per call (parse +
// compile + render, what a caller without a cache does). Prints µs per render: the median of
// batches (1,000 compiled renders, 100 `render` calls).
import { readFileSync } from 'node:fs';
import { Dotprompt } from 'dotprompt';

const n = Number(process.argv[3] || 20000);
const c = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const env = new Dotprompt({ partials: c.partials || {} });
const fn = await env.compile(c.template);
for (let i = 0; i < 2000; i++) await fn(c.data);
// Batches; the median batch is the figure, as the Rust side measures.
async function median(total, size, once) {
  const per = [];
  for (let b = 0; b < Math.max(1, Math.ceil(total / size)); b++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < size; i++) await once();
    per.push(Number(process.hrtime.bigint() - t) / size / 1000);
  }
  per.sort((a, b) => a - b);
  return per[Math.floor(per.length / 2)];
}
const compiled = await median(n, 1000, () => fn(c.data));
const full = await median(Math.max(1, Math.floor(n / 10)), 100, () => env.render(c.template, c.data));
console.log(JSON.stringify({ compiled_us: compiled, render_us: full }));
