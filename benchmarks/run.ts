/**
 * `npm run bench [-- --skip-slow]`: runs every benchmark and prints one table per bench, with
 * latency in milliseconds. Numbers are machine-dependent and never asserted in tests; quote
 * them with the machine they came from.
 */

import os from 'node:os';
import { parseArgs } from 'node:util';
import type { Bench } from 'tinybench';
import { selectionBenches } from './selection.js';

const { values } = parseArgs({ options: { 'skip-slow': { type: 'boolean', default: false } } });

function report(bench: Bench): void {
  console.log(`\n${bench.name ?? 'bench'}`);
  const rows = bench.tasks.map((task) => {
    const result = task.result;
    if (result.state !== 'completed') return { task: task.name, state: result.state };
    const { latency } = result;
    return {
      task: task.name,
      'median ms': latency.p50.toFixed(1),
      'mean ms': latency.mean.toFixed(1),
      'min ms': latency.min.toFixed(1),
      'max ms': latency.max.toFixed(1),
      samples: latency.samplesCount,
    };
  });
  console.table(rows);
  // Fast against reference on the same scores: the ratio of medians.
  for (const task of bench.tasks) {
    const twin = bench.tasks.find((t) => t.name === task.name.replace(/^fast/, 'reference'));
    if (!task.name.startsWith('fast') || twin === undefined) continue;
    if (task.result.state === 'completed' && twin.result.state === 'completed') {
      const ratio = twin.result.latency.p50 / task.result.latency.p50;
      console.log(
        `  ${task.name.replace(/^fast, /, '')}: fast is ${ratio.toFixed(0)}× the reference`,
      );
    }
  }
}

console.log(
  `node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'} × ${os.availableParallelism()}`,
);
for (const bench of await selectionBenches({ skipSlow: values['skip-slow'] })) report(bench);
