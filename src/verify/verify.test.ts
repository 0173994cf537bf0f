/**
 * `verify` on real artifacts: PyTorch's torch.nn.utils.prune runs (committed fixtures the script
 * produced, and a fresh run of the script where python3-torch is installed) pass; the two broken
 * variants fail on the invariant they break. cyclesparse's own pruner, saved as .npz, passes;
 * a single flipped mask bit is found at its tensor and index. Bad input is an error naming the
 * file, tensor or manifest field. The CLI's exit codes follow.
 */

import { spawnSync } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { layerDensities } from '../core/densities.js';
import { layerSize, type LayerSpec } from '../core/mask.js';
import { randomStream } from '../core/random.js';
import { cyclesparsePruner } from '../contracts/reference.js';
import { ArtifactError } from './tensors.js';
import { verifyArtifact, type CheckId, type CheckStatus, type VerifyReport } from './verify.js';
import { encodeNpy, encodeNpz } from './write.js';

const fixtures = fileURLToPath(new URL('./fixtures/torch', import.meta.url));
const script = fileURLToPath(new URL('../../scripts/torch-pruning-artifacts.py', import.meta.url));
const main = fileURLToPath(new URL('../cli/main.ts', import.meta.url));

const statusOf = (report: VerifyReport) =>
  Object.fromEntries(report.checks.map((c) => [c.id, c.status])) as Record<CheckId, CheckStatus>;
const check = (report: VerifyReport, id: CheckId) => report.checks.find((c) => c.id === id)!;

/** What the PyTorch script's six runs must show, wherever they were produced. */
function expectTorchArtifacts(root: string): void {
  for (const run of ['mlp-imp', 'mlp-lrr', 'convnet-imp', 'convnet-lrr']) {
    const report = verifyArtifact(join(root, run));
    expect({ run, passed: report.passed }).toEqual({ run, passed: true });
    expect(statusOf(report)).toEqual({
      masks: 'pass',
      counts: 'pass',
      monotone: 'pass',
      'stored-zero': 'pass',
      rewind: 'pass',
      distribution: 'not-checkable',
      'score-order': 'pass',
      collapse: 'pass',
    });
    expect(check(report, 'counts').detail).toMatch(/round-half-even \(declared\), scope global/);
    expect(report.sparsities[1]).toBeCloseTo(0.2, 2);
  }

  const ties = verifyArtifact(join(root, 'mlp-imp-broken-threshold-ties'));
  expect(ties.passed).toBe(false);
  const tiesStatus = statusOf(ties);
  expect(tiesStatus.counts).toBe('fail');
  expect(tiesStatus.monotone).toBe('pass');
  expect(check(ties, 'counts').detail).toMatch(
    /^level 1: pruned \d+ of 1984 weights \(global\) at rate 0\.2; the declared round-half-even does not give this \(.*round-half-even 397/,
  );
  expect(check(ties, 'counts').where).toMatchObject({ level: 1 });

  const revival = verifyArtifact(join(root, 'mlp-imp-broken-momentum-revival'));
  expect(revival.passed).toBe(false);
  expect(statusOf(revival)['stored-zero']).toBe('fail');
  expect(check(revival, 'stored-zero').detail).toMatch(
    /^level 1 \(end weights\): \S+\[\d+\] is \S+ but its mask is 0$/,
  );
  expect(check(revival, 'stored-zero').where).toMatchObject({
    level: 1,
    layer: expect.any(String) as unknown,
    index: expect.any(Number) as unknown,
  });
  expect(statusOf(revival).monotone).toBe('fail');
  expect(check(revival, 'monotone').detail).toMatch(/was pruned and came back/);
}

/** Runs docs/VERIFY.md's export snippet, then `loop` exporting into `out`; verifies what it wrote. */
function verifySnippetRun(loop: (out: string) => string): VerifyReport {
  const doc = readFileSync(fileURLToPath(new URL('../../docs/VERIFY.md', import.meta.url)), 'utf8');
  const snippet = /```python\n([\s\S]*?)```/.exec(doc)![1]!;
  const out = mkdtempSync(join(tmpdir(), 'snippet-'));
  const program = `${snippet}\nimport torch.nn as nn, torch.nn.utils.prune as prune\n${loop(out)}`;
  const run = spawnSync('/usr/bin/python3', ['-c', program], { encoding: 'utf8' });
  expect(run.status, run.stderr).toBe(0);
  const report = verifyArtifact(out);
  expect(report.checks.filter((c) => c.status === 'fail')).toEqual([]);
  return report;
}

/**
 * Eight layers of odd sizes, each pruned by half of what it has left per level: counts per layer
 * differ from a global count, and ties at .5 go to the even neighbour.
 */
const layerwiseImp = (out: string) => `
torch.manual_seed(1)
widths = [5, 7, 3, 9, 5, 3, 7, 5, 3]
layers = []
for i in range(8):
    layers += [nn.Linear(widths[i], widths[i + 1]), nn.ReLU()]
model = nn.Sequential(*layers[:-1])
names = [f"{2 * i}.weight" for i in range(8)]
manifest = {"method": "imp"}
for k in range(3):
    if k:
        for i in range(8):
            prune.l1_unstructured(model[2 * i], "weight", amount=0.5)
    export_level(model, ${JSON.stringify(out)}, k, 0.5 if k else 0.0, names, manifest)
`;

/** A small global-L1 LRR loop, exported as docs/VERIFY.md says. */
const globalLrr = (out: string) => `
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4))
names = ["0.weight", "2.weight"]
manifest = {"method": "lrr", "scope": "global", "countingRule": "round-half-even"}
x, y = torch.randn(64, 16), torch.randint(0, 4, (64,))
for k in range(3):
    if k:
        prune.global_unstructured([(model[0], "weight"), (model[2], "weight")], pruning_method=prune.L1Unstructured, amount=0.2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for _ in range(5):
        optimizer.zero_grad(); nn.functional.cross_entropy(model(x), y).backward(); optimizer.step()
    model(x)
    export_level(model, ${JSON.stringify(out)}, k, 0.2 if k else 0.0, names, manifest)
`;

describe('verify on PyTorch artifacts', () => {
  test('the committed torch.nn.utils.prune fixtures: honest runs pass, broken runs fail where they break', () => {
    expectTorchArtifacts(fixtures);
  });

  const torch = spawnSync('/usr/bin/python3', ['-c', 'import torch, numpy'], { encoding: 'utf8' });
  test.runIf(torch.status === 0)(
    'a fresh run of the PyTorch script shows the same (python3-torch is installed)',
    () => {
      const out = mkdtempSync(join(tmpdir(), 'torch-artifacts-'));
      const run = spawnSync('/usr/bin/python3', [script, out], { encoding: 'utf8' });
      expect(run.status, run.stderr).toBe(0);
      expectTorchArtifacts(out);
    },
  );

  test.runIf(torch.status === 0)(
    'a layerwise torch artifact with a level-0 entry is recognised as layerwise, round-half-even, without declaring either',
    () => {
      const report = verifySnippetRun(layerwiseImp);
      expect(statusOf(report)).toMatchObject({ counts: 'pass', 'score-order': 'pass' });
      expect(check(report, 'counts').detail).toMatch(
        /match round-half-even \(inferred\), scope layerwise \(inferred\)/,
      );
    },
  );

  test.runIf(torch.status === 0)(
    'the export snippet in docs/VERIFY.md, run as written, produces an artifact that verifies',
    () => {
      const report = verifySnippetRun(globalLrr);
      expect(statusOf(report)).toMatchObject({
        counts: 'pass',
        monotone: 'pass',
        'stored-zero': 'pass',
        'score-order': 'pass',
      });
      expect(report.sparsities[2]).toBeCloseTo(0.36, 2);
    },
  );

  test('without a manifest the level layout is read and what was inferred is said', () => {
    const copy = mkdtempSync(join(tmpdir(), 'inferred-'));
    cpSync(join(fixtures, 'mlp-lrr'), copy, { recursive: true });
    rmSync(join(copy, 'manifest.json'));
    const report = verifyArtifact(copy);
    expect(report.passed).toBe(true);
    expect(report.manifest).toMatch(/inferred from the directory layout/);
    expect(report.inferred.join('; ')).toMatch(/target sparsities/);
    expect(statusOf(report).counts).toBe('not-checkable');
    expect(check(report, 'rewind').detail).toMatch(
      /inferred: levels start from the previous level's end weights/,
    );
  });
});

interface Level {
  masks: Record<string, Uint8Array>;
  sparsity: number;
  scores?: Record<string, Float32Array>;
}

/** Writes levels as an artifact directory in the documented format; returns its path. */
function writeArtifact(
  layers: readonly LayerSpec[],
  levels: readonly Level[],
  manifest: Record<string, unknown>,
): string {
  const root = mkdtempSync(join(tmpdir(), 'artifact-'));
  const tensors = <T extends Uint8Array | Float32Array>(record: Record<string, T>) =>
    Object.fromEntries(layers.map((l) => [l.name, { values: record[l.name]!, shape: l.shape }]));
  const entries = levels.map((level, k) => {
    mkdirSync(join(root, `level-${k}`));
    writeFileSync(join(root, `level-${k}`, 'masks.npz'), encodeNpz(tensors(level.masks), true));
    if (level.scores)
      writeFileSync(join(root, `level-${k}`, 'scores.npz'), encodeNpz(tensors(level.scores)));
    return {
      sparsity: level.sparsity,
      masks: `level-${k}/masks.npz`,
      ...(level.scores ? { scores: `level-${k}/scores.npz` } : {}),
    };
  });
  writeFileSync(join(root, 'manifest.json'), JSON.stringify({ ...manifest, levels: entries }));
  return root;
}

/** Levels of cyclesparse's own global pruner on random scores. */
function cyclesparseLevels(
  layers: readonly LayerSpec[],
  sparsities: readonly number[],
  seed: number,
): Level[] {
  const stream = randomStream(seed, 'verify-test');
  let mask = Object.fromEntries(layers.map((l) => [l.name, new Uint8Array(layerSize(l)).fill(1)]));
  return sparsities.map((sparsity) => {
    // Scores on a coarse grid, so ties sit at the thresholds.
    const scores = Object.fromEntries(
      layers.map((l) => [
        l.name,
        Float32Array.from({ length: layerSize(l) }, () => Math.floor(stream.float() * 8)),
      ]),
    );
    const pruned = cyclesparsePruner({
      layers,
      scores,
      mask,
      sparsity,
      scope: 'global',
      exclude: [],
    }) as Record<string, ArrayLike<number>>;
    mask = Object.fromEntries(layers.map((l) => [l.name, Uint8Array.from(pruned[l.name]!)]));
    return { masks: mask, sparsity, scores };
  });
}

const layerList = fc
  .array(fc.tuple(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 12 })), {
    minLength: 1,
    maxLength: 4,
  })
  .map((shapes) => shapes.map(([o, i], n) => ({ name: `layer${n}.weight`, shape: [o, i] })));
const sparsityList = fc
  .array(fc.double({ min: 0.05, max: 0.95, noNaN: true }), { minLength: 1, maxLength: 3 })
  .map((xs) => [...xs].sort((a, b) => a - b));
const declared = {
  method: 'custom',
  scope: 'global',
  countingRule: 'round-half-up',
  tieBreak: 'lowest-flat-index',
};

describe('verify on cyclesparse artifacts', () => {
  test("cyclesparse's own pruner passes every checkable invariant, ties included", () => {
    fc.assert(
      fc.property(layerList, sparsityList, fc.nat(), (layers, sparsities, seed) => {
        const root = writeArtifact(layers, cyclesparseLevels(layers, sparsities, seed), declared);
        const report = verifyArtifact(root);
        // Collapse is a finding, not a pruner bug: global pruning may empty a one-weight layer.
        const failures = report.checks
          .filter((c) => c.status === 'fail' && c.id !== 'collapse')
          .map((c) => c.detail);
        expect(failures).toEqual([]);
        expect(statusOf(report).counts).toBe('pass');
        // Checkable wherever some level pruned a weight.
        expect(statusOf(report)['score-order']).toBe(
          report.sparsities.some((x) => x > 0) ? 'pass' : 'not-checkable',
        );
      }),
      { numRuns: 25 },
    );
  });

  test('one flipped mask bit is found at its tensor and index', () => {
    fc.assert(
      fc.property(layerList, sparsityList, fc.nat(), fc.nat(), (layers, sparsities, seed, pick) => {
        const levels = cyclesparseLevels(layers, sparsities, seed);
        const last = levels.at(-1)!;
        const layer = layers[pick % layers.length]!;
        const index = pick % layerSize(layer);
        const masks = { ...last.masks, [layer.name]: Uint8Array.from(last.masks[layer.name]!) };
        const wasKept = masks[layer.name]![index] === 1;
        masks[layer.name]![index] = wasKept ? 0 : 1;
        levels[levels.length - 1] = { ...last, masks };
        const report = verifyArtifact(writeArtifact(layers, levels, declared));
        // Pruning one more weight breaks the count; reviving one breaks monotonicity (or, at the
        // first level, the count).
        expect(statusOf(report).counts).toBe('fail');
        const previous = levels.length > 1 ? levels.at(-2)!.masks[layer.name]![index] : 1;
        if (!wasKept && previous === 0) {
          expect(check(report, 'monotone').where).toEqual({
            level: levels.length - 1,
            file: expect.stringMatching(/masks\.npz$/) as unknown,
            layer: layer.name,
            index,
          });
        }
      }),
      { numRuns: 25 },
    );
  });

  test('declared distributions are checked per layer: ERK masks pass as ERK and fail as uniform', () => {
    const layers: LayerSpec[] = [
      { name: 'conv1.weight', shape: [16, 3, 3, 3], layout: 'oihw' },
      { name: 'conv2.weight', shape: [32, 16, 3, 3], layout: 'oihw' },
      { name: 'fc.weight', shape: [10, 512], layout: 'oi' },
    ];
    const kept = layerDensities(layers, { distribution: 'erk', sparsity: 0.8, denseLayers: [] });
    const masks = Object.fromEntries(
      kept.map((l) => {
        const size = layerSize(layers.find((x) => x.name === l.name)!);
        return [l.name, Uint8Array.from({ length: size }, (_, i) => (i < l.kept ? 1 : 0))];
      }),
    );
    const levels = [{ masks, sparsity: 0.8 }];
    const asErk = verifyArtifact(
      writeArtifact(layers, levels, { method: 'pai', scope: 'layerwise', distribution: 'erk' }),
    );
    expect(statusOf(asErk).distribution).toBe('pass');
    const asUniform = verifyArtifact(
      writeArtifact(layers, levels, { method: 'pai', scope: 'layerwise', distribution: 'uniform' }),
    );
    expect(statusOf(asUniform).distribution).toBe('fail');
    expect(check(asUniform, 'distribution').detail).toMatch(/no common share λ/);
  });

  test('a layer pruned away entirely is flagged as collapse', () => {
    const layers = [
      { name: 'a', shape: [4, 4] },
      { name: 'b', shape: [2, 2] },
    ];
    const masks = { a: new Uint8Array(16).fill(1), b: new Uint8Array(4) };
    const report = verifyArtifact(
      writeArtifact(layers, [{ masks, sparsity: 0.2 }], { scope: 'global' }),
    );
    expect(check(report, 'collapse')).toMatchObject({
      status: 'fail',
      detail: 'level 0: every weight of b is pruned (4 of 4)',
      where: { level: 0, layer: 'b' },
    });
  });
});

describe('verify on bad input', () => {
  const layers = [{ name: 'w', shape: [2, 3] }];
  const denseArtifact = () =>
    writeArtifact(layers, [{ masks: { w: new Uint8Array(6).fill(1) }, sparsity: 0 }], {});

  test('a mask holding values other than 0 and 1 fails the masks check naming file, tensor and index', () => {
    const root = mkdtempSync(join(tmpdir(), 'bad-'));
    mkdirSync(join(root, 'level-0'));
    writeFileSync(
      join(root, 'level-0', 'masks.npz'),
      encodeNpz({ w: { values: Float32Array.from([1, 0, 0.5, 1, 1, 1]), shape: [2, 3] } }),
    );
    const report = verifyArtifact(root);
    expect(check(report, 'masks')).toMatchObject({
      status: 'fail',
      detail: 'level 0: w[2] is 0.5, not 0 or 1',
      where: {
        level: 0,
        layer: 'w',
        index: 2,
        file: expect.stringMatching(/level-0\/masks\.npz$/) as unknown,
      },
    });
    expect(report.passed).toBe(false);
  });

  /** A one-level artifact of `w`, nothing pruned, plus a tensor file `name` of `w`, under `manifest`. */
  function withTensorFile(
    name: string,
    w: { values: Float32Array; shape: number[] },
    manifest: object,
  ): string {
    const root = denseArtifact();
    writeFileSync(join(root, name), encodeNpz({ w }));
    writeFileSync(join(root, 'manifest.json'), JSON.stringify(manifest));
    return root;
  }
  const expectArtifactError = (root: string, message: RegExp) => {
    expect(() => verifyArtifact(root)).toThrow(ArtifactError);
    expect(() => verifyArtifact(root)).toThrow(message);
  };

  test('weights whose shape differs from the mask are an error naming file and tensor', () => {
    const root = withTensorFile(
      'weights.npz',
      { values: new Float32Array(6), shape: [3, 2] },
      { levels: [{ sparsity: 0, masks: 'level-0/masks.npz', weights: 'weights.npz' }] },
    );
    expectArtifactError(
      root,
      /weights\.npz \(tensor w\): shape \[3, 2\] differs from its mask's \[2, 3\]/,
    );
  });

  test('an invalid declared initial mask is an error naming its file and tensor', () => {
    const root = withTensorFile(
      'initial.npz',
      { values: Float32Array.from([1, 2, 1, 1, 1, 1]), shape: [2, 3] },
      { initialMasks: 'initial.npz', levels: [{ sparsity: 0, masks: 'level-0/masks.npz' }] },
    );
    expectArtifactError(root, /initial\.npz \(tensor w\): initial masks: w\[1\] is 2, not 0 or 1/);
  });

  test('manifest mistakes name the field; unknown fields are refused', () => {
    const root = denseArtifact();
    const attempt = (manifest: unknown) => {
      writeFileSync(join(root, 'manifest.json'), JSON.stringify(manifest));
      return () => verifyArtifact(root);
    };
    expect(attempt({ levels: [{ masks: 'level-0/masks.npz', sparsity: 1.5 }] })).toThrow(
      /levels\.0\.sparsity/,
    );
    expect(attempt({ method: 'magic', levels: [{ masks: 'level-0/masks.npz' }] })).toThrow(
      /method: .*imp/,
    );
    expect(attempt({ levels: [{ masks: 'level-0/masks.npz' }], countingRule: 'banker' })).toThrow(
      /countingRule/,
    );
    expect(attempt({ levels: [{ masks: 'level-0/masks.npz', sparsity: 0.1, rate: 0.1 }] })).toThrow(
      /sparsity or rate/,
    );
    expect(attempt({ levels: [{ masks: 'level-0/masks.npz' }], colour: 'blue' })).toThrow(/colour/);
    expect(attempt({ levels: [{ masks: 'missing.npz' }] })).toThrow(/missing\.npz: no such file/);
  });

  test('manifest paths stay inside the artifact unless allowOutside; devices are never read', () => {
    const root = denseArtifact();
    const outside = denseArtifact(); // its level-0/masks.npz is a valid mask outside root
    const elsewhere = join(outside, 'level-0', 'masks.npz');
    const attempt = (masks: string, options: { allowOutside?: boolean } = {}) => {
      writeFileSync(join(root, 'manifest.json'), JSON.stringify({ levels: [{ masks }] }));
      return () => verifyArtifact(root, options);
    };
    expect(attempt('/dev/null')).toThrow(
      /\/dev\/null: levels\[0\]\.masks \("\/dev\/null" in .*manifest\.json\) is an absolute path; .*--allow-outside/,
    );
    const up = relative(root, elsewhere);
    expect(attempt(up)).toThrow(/levels\[0\]\.masks .* leads out of the artifact with \.\./);
    symlinkSync(elsewhere, join(root, 'link.npz'));
    expect(attempt('link.npz')).toThrow(
      /levels\[0\]\.masks .* is a link to .*, outside the artifact/,
    );
    symlinkSync('/dev/zero', join(root, 'zero.npz'));
    expect(attempt('zero.npz')).toThrow(/is a link to \/dev\/zero, outside the artifact/);
    // A directory of .npy files whose entry links out.
    mkdirSync(join(root, 'npys'));
    writeFileSync(join(outside, 'w.npy'), encodeNpy(new Uint8Array(6).fill(1), [2, 3]));
    symlinkSync(join(outside, 'w.npy'), join(root, 'npys', 'w.npy'));
    expect(attempt('npys')).toThrow(/npys\/w\.npy: a link to .*, outside the artifact/);
    // Allowed: files anywhere, but never a device.
    for (const masks of [up, 'link.npz', elsewhere, 'npys'])
      expect(attempt(masks, { allowOutside: true })().passed).toBe(true);
    for (const masks of ['/dev/null', 'zero.npz'])
      expect(attempt(masks, { allowOutside: true })).toThrow(/: not a regular file/);
    expect(attempt('level-0/masks.npz')().passed).toBe(true);
  });

  test('the CLI: exit 0 when every invariant holds, 1 when one fails, 2 on bad input; --json is the report', () => {
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', main, 'verify', ...args], {
        encoding: 'utf8',
      });
    const honest = cli(join(fixtures, 'mlp-imp'), '--json');
    expect(honest.status).toBe(0);
    expect((JSON.parse(honest.stdout) as VerifyReport).passed).toBe(true);
    const broken = cli(join(fixtures, 'mlp-imp-broken-momentum-revival'));
    expect(broken.status).toBe(1);
    expect(broken.stdout).toMatch(/FAIL stored-zero: level 1 \(end weights\)/);
    expect(broken.stdout).toMatch(
      /first offence: level 1, tensor \S+, index \d+, file .*weights\.npz/,
    );
    const missing = cli(join(fixtures, 'no-such-run'));
    expect(missing.status).toBe(2);
    expect(missing.stderr).toMatch(/^error: .*no-such-run: no such file or directory\n$/);
    // --allow-outside lets the mask outside be read, and --max-bytes then refuses its 6 bytes.
    const root = denseArtifact();
    const masks = join(denseArtifact(), 'level-0', 'masks.npz');
    writeFileSync(join(root, 'manifest.json'), JSON.stringify({ levels: [{ masks }] }));
    const limited = cli(root, '--allow-outside', '--max-bytes', '5');
    expect(limited.status).toBe(2);
    expect(limited.stderr).toMatch(/masks\.npz \(tensor w\): .*over the limit of 5 bytes/);
  });
});
