/**
 * The README's example, kept runnable: a user's own pruner — here written the way
 * torch.nn.utils.prune.global_unstructured counts (Python's round, halves to even) and with
 * no promise about ties — checked against the contract it actually makes.
 */
import { test } from 'vitest';
import { checkLaw, pruningContract, type PruneRequest } from 'cyclesparse/contracts';

function myGlobalPruner({ layers, scores, mask, sparsity, exclude }: PruneRequest) {
  const total = layers.reduce((n, l) => n + l.shape.reduce((a, b) => a * b, 1), 0);
  const product = sparsity * total;
  let target = Math.round(product);
  if (product % 1 === 0.5 && target % 2 === 1) target -= 1; // Python rounds halves to even
  const alive: { name: string; i: number; score: number }[] = [];
  let pruned = 0;
  for (const { name } of layers) {
    mask[name]!.forEach((kept, i) => {
      if (kept === 0) pruned++;
      else if (!exclude.includes(name)) alive.push({ name, i, score: scores[name]![i]! });
    });
  }
  alive.sort((a, b) => a.score - b.score);
  const out = Object.fromEntries(layers.map(({ name }) => [name, Uint8Array.from(mask[name]!)]));
  for (const { name, i } of alive.slice(0, target - pruned)) out[name]![i] = 0;
  return out;
}

const laws = pruningContract(myGlobalPruner, {
  scopes: ['global'],
  countingRule: 'round-half-even',
  tieBreak: 'unspecified',
});
for (const law of laws) test(law.name, () => checkLaw(law));
