import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadSuite, suiteRuns, type SuiteVerdict } from '../claims/claims.js';
import type { RunSource, RunSummary } from '../claims/run-source.js';
import type { CycleSeries } from '../analysis/stored.js';
import type { RunConfig } from '../config/schema.js';
import { madeUpResult } from '../store/made-up-result-testing.js';
import {
  analysisPlots,
  cellsOf,
  cyclesLabel,
  dodge,
  logTicks,
  plots,
  schedulesOf,
} from './plots.js';
import { renderSvg } from './render.js';

/** A small suite: LRR at 50% and 90%, a random mask in 3 cycles at 50% and 90%, one cycle at 90%. */
function suite() {
  const dir = mkdtempSync(join(tmpdir(), 'plots-'));
  const file = join(dir, 'suite.yaml');
  writeFileSync(
    file,
    `suite: plots
seeds: [0, 1, 2]
base: { extends: mini-mnist-lenet300 }
claims:
  - { id: lrr, description: d, kind: greater, a: { method: { name: lrr, targetSparsity: 0.5 } }, b: { method: { name: lrr, targetSparsity: 0.9 } } }
  - { id: pai, description: d, kind: greater, a: { method: { name: pai, criterion: random, sparsity: 0.5, cycles: 3 } }, b: { method: { name: pai, criterion: random, sparsity: 0.9, cycles: 3 } } }
  - { id: one, description: d, kind: greater, a: { method: { name: pai, criterion: random, sparsity: 0.9, cycles: 3 } }, b: { method: { name: pai, criterion: random, sparsity: 0.9 } } }
`,
  );
  return loadSuite(file);
}

/** Made-up results: LRR in levels (4 to 50%, 6 to 90%), PaI in cycles of 4 epochs. */
function resultOf(config: RunConfig): RunSummary {
  const method = config.method as { name: string; targetSparsity?: number; sparsity?: number };
  const lrr = method.name === 'lrr';
  const target = (lrr ? method.targetSparsity : method.sparsity)!;
  const cyclesOf = (config.method as { cycles?: number }).cycles ?? 1;
  const count = lrr ? (target === 0.5 ? 4 : 6) : cyclesOf;
  // LRR at 50%: seeds 0.999, 1.0, 0.96 — an interval reaching past 100% before clipping.
  const last = lrr && target === 0.5 ? [0.999, 1, 0.96][config.seed]! : 0.9 + 0.01 * config.seed;
  const cycles = Array.from({ length: count }, (_, c) => ({
    phase: lrr ? `level ${c}` : 'cyclic',
    level: lrr ? c : 1,
    cycle: lrr ? 0 : c,
    sparsity: lrr ? target * (c / (count - 1)) : target,
    best: last - 0.01 * (count - 1 - c),
    flopsDense: 1e10,
    flopsSparse: 1e10 * (1 - target),
  }));
  return madeUpResult(config, cycles, {
    cost: {
      epochs: 4 * count,
      steps: 160 * count,
      flopsDense: 1e10 * count,
      flopsSparse: 1e10 * count * (1 - target),
    },
  });
}

/** A source with every run's result but those listed (a one-cycle cell left with one seed). */
function sourceOf(
  configs: ReadonlyMap<string, RunConfig>,
  drop: (config: RunConfig) => boolean,
  series: (id: string) => CycleSeries = (id) => ({ id, cycles: [], pairs: [] }),
): RunSource {
  return {
    result: (id) => (drop(configs.get(id)!) ? undefined : resultOf(configs.get(id)!)),
    state: () => undefined,
    cycleSeries: (id) => Promise.resolve(series(id)),
    sharpness: () => Promise.resolve(1),
  };
}

const oneCycle = (config: RunConfig) =>
  ((config.method as { cycles?: number }).cycles ?? 1) === 1 &&
  config.method.name === 'pai' &&
  config.seed > 0;

function build() {
  const loaded = suite();
  const configs = suiteRuns(loaded.suite);
  const source = sourceOf(configs, oneCycle);
  const cells = cellsOf(configs, source, 'best', 4);
  return { configs, source, cells, specs: plots(cells, schedulesOf(configs, source, 4)) };
}

type Layer = {
  data?: { values: Record<string, unknown>[] };
  mark: { type: string };
  transform?: unknown[];
  encoding: Record<string, { field?: string; scale?: Record<string, unknown> } | undefined> & {
    tooltip?: { field: string }[];
  };
};
type LayerSpec = { data?: { values: Record<string, unknown>[] }; layer: Layer[] };
const asLayers = (spec: unknown) => spec as LayerSpec;
const tooltipFields = (layer: Layer) => (layer.encoding.tooltip ?? []).map((t) => t.field);
/** The layer of mean points (filled) and the per-seed one (behind the param). */
const meanLayer = (spec: LayerSpec) =>
  spec.layer.find((l) => l.mark.type === 'point' && l.transform === undefined)!;
const seedLayer = (spec: LayerSpec) =>
  spec.layer.find((l) => l.mark.type === 'point' && l.transform !== undefined)!;

/**
 * The items vega draws for the marks of one layer (`layer_<k>_marks`), over every container:
 * a series of a line mark has a container of its own.
 */
function markItems(svg: string, mark: 'line' | 'rule', layer: number): string[] {
  const groups = svg.split(`class="mark-${mark} role-mark layer_${layer}_marks"`).slice(1);
  return groups.flatMap((g) => {
    const body = g.slice(0, g.indexOf('</g>'));
    return body.match(mark === 'line' ? /<path[^>]*>/g : /<line[^>]*>/g) ?? [];
  });
}

describe('accuracy against sparsity', () => {
  test('one line per method joins its cells; the cells at one sparsity are offset apart', async () => {
    const { specs } = build();
    const spec = asLayers(specs['accuracy-vs-sparsity']);
    const rows = spec.data!.values as { method: string; density: number; x: number }[];
    expect(new Set(rows.map((r) => r.method))).toEqual(
      new Set(['lrr', 'pai-random ×3', 'pai-random']),
    );
    // Drawn: one path per method; LRR's and PaI ×3's join two points (one segment each).
    const svg = await renderSvg(specs['accuracy-vs-sparsity']!);
    const lines = markItems(svg, 'line', 0);
    expect(lines).toHaveLength(3);
    const segments = lines.map((p) => (/ d="([^"]*)"/.exec(p)![1]!.match(/L/g) ?? []).length);
    expect(segments.sort()).toEqual([0, 1, 1]);
    // At 90% (density 10%) three methods, at three distinct x within ±0.1 decade of 10.
    const at90 = rows.filter((r) => r.density === 10).map((r) => r.x);
    expect(at90).toHaveLength(3);
    expect(new Set(at90).size).toBe(3);
    for (const x of at90) expect(Math.abs(Math.log10(x / 10))).toBeLessThan(0.1);
  });

  test('intervals lie within [0, 100], none is drawn from one seed, and the axis is log density', async () => {
    const { specs, cells } = build();
    const spec = asLayers(specs['accuracy-vs-sparsity']);
    const rows = spec.data!.values as {
      method: string;
      density: number;
      lo: number | null;
      hi: number | null;
      n: number;
    }[];
    for (const r of rows.filter((r) => r.lo !== null)) {
      expect(r.lo!).toBeGreaterThanOrEqual(0);
      expect(r.hi!).toBeLessThanOrEqual(100);
    }
    // LRR at 50%: 99.9, 100, 96 → mean 98.63, t interval up to about 103.7 before clipping.
    const lrr50 = rows.find((r) => r.method === 'lrr' && r.density === 50)!;
    expect(lrr50.hi).toBe(100);
    const single = rows.find((r) => r.method === 'pai-random')!;
    expect(single.n).toBe(1);
    expect(single.lo).toBeNull();
    // Drawn: one interval rule per cell with at least 2 seeds.
    const svg = await renderSvg(specs['accuracy-vs-sparsity']!);
    const rules = markItems(svg, 'rule', 1);
    expect(rules).toHaveLength(cells.filter((c) => c.n >= 2).length);
    const x = meanLayer(spec).encoding.x as { scale: { type: string; reverse: boolean } } & {
      title: string;
    };
    expect(x.scale.type).toBe('log');
    expect(x.scale.reverse).toBe(true);
    expect(x.title).toMatch(/weights remaining.*log/);
  });
});

describe('accuracy per level and per cycle', () => {
  test('levels and cycles in separate panels, one series per (method, sparsity), x by epochs', () => {
    const { specs } = build();
    const spec = specs['accuracy-per-cycle'] as unknown as {
      vconcat: (LayerSpec & { title: string })[];
    };
    const [levels, cycles] = spec.vconcat;
    const levelRows = levels!.data!.values as { phase: string; series: string; x: number }[];
    const cycleRows = cycles!.data!.values as { phase: string; series: string; x: number }[];
    expect(levelRows.every((r) => /^level \d+$/.test(r.phase))).toBe(true);
    expect(cycleRows.every((r) => r.phase === 'cyclic')).toBe(true);
    expect(new Set(levelRows.map((r) => r.series))).toEqual(new Set(['lrr @ 50%', 'lrr @ 90%']));
    expect(new Set(cycleRows.map((r) => r.series))).toEqual(
      new Set(['pai-random ×3 @ 50%', 'pai-random ×3 @ 90%', 'pai-random @ 90%']),
    );
    // Lines split by series, not by method (no zig-zag between a method's sparsities).
    const line = cycles!.layer.find((l) => l.mark.type === 'line')!;
    expect(line.encoding.detail?.field).toBe('series');
    // Cycles sit at the epochs they end (4, 8, 12), offset apart where they coincide.
    const at4 = cycleRows.filter((r) => Math.round(r.x) === 4).map((r) => r.x);
    expect(at4).toHaveLength(3);
    expect(new Set(at4).size).toBe(3);
    expect(cycleRows.map((r) => Math.round(r.x)).sort((a, b) => a - b)).toEqual([
      4, 4, 4, 8, 8, 12, 12,
    ]);
    // LRR's levels 0..3 and 0..5.
    expect(levelRows.filter((r) => r.series === 'lrr @ 90%').map((r) => Math.round(r.x))).toEqual([
      0, 1, 2, 3, 4, 5,
    ]);
  });
});

describe('learning rate', () => {
  test("the runs' distinct schedules, every epoch and the last drawn, on a log axis", () => {
    const { specs } = build();
    const spec = specs['learning-rate'] as unknown as {
      data: { values: { schedule: string; epoch: number; lr: number }[] };
      spec: { encoding: { y: { scale: { type: string } } } };
    };
    const rows = spec.data.values;
    const bySchedule = new Map<string, typeof rows>();
    for (const r of rows) {
      const key = r.schedule.split(':')[0]!;
      bySchedule.set(key, [...(bySchedule.get(key) ?? []), r]);
    }
    // LRR: 4 and 6 levels of 4 epochs; PaI: 3 cycles and one.
    expect([...bySchedule.keys()].sort()).toEqual([
      '3 cycles of 4 epochs',
      '4 cycles of 4 epochs',
      '6 cycles of 4 epochs',
      'one 4-epoch cycle',
    ]);
    const epochs = { '3 cycles of 4 epochs': 12, '4 cycles of 4 epochs': 16 } as const;
    for (const [label, total] of Object.entries(epochs)) {
      const points = bySchedule.get(label)!;
      // Epochs 0..total-1, then the end of the last epoch.
      expect(points.map((p) => p.epoch)).toEqual(Array.from({ length: total + 1 }, (_, e) => e));
      expect(points.at(-1)!.lr).toBe(points.at(-2)!.lr);
      // Each 4-epoch cycle restarts the schedule.
      for (let start = 4; start < total; start += 4) expect(points[start]!.lr).toBe(points[0]!.lr);
    }
    expect(bySchedule.get('3 cycles of 4 epochs')![0]!.schedule).toMatch(/pai-random ×3 0\.5/);
    expect(spec.spec.encoding.y.scale.type).toBe('log');
  });
});

describe('accuracy against cost', () => {
  test('FLOP ticks at 1, 2, 5 × 10^k inside a domain that holds every cell with room', () => {
    const { specs, cells } = build();
    const spec = specs['accuracy-vs-cost'] as unknown as { hconcat: LayerSpec[] };
    const x = meanLayer(spec.hconcat[1]!).encoding.x as {
      scale: { type: string; domain: [number, number] };
    } & { axis: { values: number[]; format: string } };
    expect(x.scale.type).toBe('log');
    const [lo, hi] = x.scale.domain;
    for (const c of cells) {
      expect(c.flops).toBeGreaterThan(lo * 1.2);
      expect(c.flops).toBeLessThan(hi / 1.2);
    }
    expect(x.axis.values.length).toBeGreaterThan(1);
    for (const v of x.axis.values) {
      expect(v).toBeGreaterThanOrEqual(lo);
      expect(v).toBeLessThanOrEqual(hi);
      const mantissa = v / 10 ** Math.floor(Math.log10(v));
      expect([1, 2, 5]).toContain(Number(mantissa.toPrecision(3)));
    }
    expect(x.axis.format).toBe('~s');
  });
});

describe('interactivity', () => {
  test('every mean has a tooltip with method, seeds, interval and runs; per-seed points with run and seed sit behind an unchecked checkbox', () => {
    const { specs } = build();
    const panels: LayerSpec[] = [
      asLayers(specs['accuracy-vs-sparsity']),
      ...(specs['accuracy-per-cycle'] as unknown as { vconcat: LayerSpec[] }).vconcat,
      ...(specs['accuracy-vs-cost'] as unknown as { hconcat: LayerSpec[] }).hconcat,
    ];
    for (const panel of panels) {
      expect(tooltipFields(meanLayer(panel))).toEqual(
        expect.arrayContaining(['method', 'accuracy', 'n', 'interval', 'runs']),
      );
      const seeds = seedLayer(panel);
      expect(tooltipFields(seeds)).toEqual(
        expect.arrayContaining(['method', 'run', 'seed', 'accuracy']),
      );
      expect(seeds.transform).toEqual([{ filter: 'seeds' }]);
      expect(seeds.data!.values.length).toBeGreaterThan(0);
    }
    for (const name of ['accuracy-vs-sparsity', 'accuracy-per-cycle', 'accuracy-vs-cost']) {
      const params = (specs[name] as unknown as { params: unknown[] }).params;
      expect(params).toEqual([
        { name: 'seeds', value: false, bind: { input: 'checkbox', name: 'per-seed points ' } },
      ]);
    }
    const lr = specs['learning-rate'] as unknown as {
      spec: { encoding: { tooltip: { field: string }[] } };
    };
    expect(lr.spec.encoding.tooltip.map((t) => t.field)).toEqual(
      expect.arrayContaining(['schedule', 'usedBy', 'epoch', 'lr']),
    );
  });
});

describe('analysis plots', () => {
  // Test error along α: 10, 11, 9, 6, 4 %. Mean of the ends 7 → barrier 4 points at α = 0.25;
  // the straight line from 10 to 4 is 8.5 at α = 0.25 → 2.5 points there (2 at 0.5, 0.5 at 0.75).
  const errors = [0.1, 0.11, 0.09, 0.06, 0.04];
  const curve = errors.map((e, i) => ({
    alpha: i / 4,
    train: { loss: 0, error: e / 2 },
    test: { loss: 0, error: e },
  }));
  function analysed() {
    const dir = mkdtempSync(join(tmpdir(), 'plots-analysis-'));
    const file = join(dir, 'suite.yaml');
    writeFileSync(
      file,
      `suite: analysis
seeds: [0, 1]
base: { extends: mini-mnist-lenet300 }
claims:
  - { id: flatter, description: d, kind: greater, metric: sharpness, a: { method: { name: one-cycle, cycles: 3 } }, b: { method: { name: cyclic, cycles: 3 } } }
  - { id: separated, description: d, kind: at-least, metric: barrier, value: 0.005, a: { method: { name: cyclic, cycles: 3 } } }
`,
    );
    const loaded = loadSuite(file);
    const configs = suiteRuns(loaded.suite);
    const dense = (config: RunConfig, cycles: number[]): RunSummary => ({
      ...resultOf({
        ...config,
        method: { name: 'pai', criterion: 'random', sparsity: 0, cycles: 1 },
      }),
      method: config.method.name,
      cycles: cycles.map((epochs, c) => ({
        ...resultOf(config).cycles[0]!,
        phase: config.method.name,
        cycle: c,
        epochs,
      })),
    });
    const source: RunSource = {
      result: (id) => {
        const config = configs.get(id)!;
        return dense(config, config.method.name === 'cyclic' ? [4, 4, 4] : [12]);
      },
      state: () => undefined,
      sharpness: () => Promise.resolve(1),
      cycleSeries: (id) =>
        Promise.resolve(
          configs.get(id)!.method.name === 'cyclic'
            ? {
                id,
                cycles: [1, 2, 3].map((cycle) => ({ cycle, sharpness: 4 - cycle })),
                pairs: [
                  {
                    from: 1,
                    to: 2,
                    testErrorBarrier: 0.04,
                    testErrorBarrierLinear: 0.025,
                    trainErrorBarrier: 0,
                    testLossBarrier: 0,
                    signFlipFraction: 0.01,
                    curve,
                  },
                ],
              }
            : { id, cycles: [{ cycle: 1, sharpness: 1.5 }], pairs: [] },
        ),
    };
    const runIds = (name: string) =>
      [...configs].filter(([, c]) => c.method.name === name).map(([id]) => id);
    // Only the fields analysisPlots reads: which claims read which metric from which runs.
    const verdict = {
      claims: [
        {
          id: 'flatter',
          metric: 'sharpness',
          runIds: [...runIds('one-cycle'), ...runIds('cyclic')],
        },
        { id: 'separated', metric: 'barrier', runIds: runIds('cyclic') },
      ],
    } as unknown as SuiteVerdict;
    return analysisPlots(verdict, configs, source, 4);
  }

  test('the barrier is marked in both definitions, and says which one the claims use', async () => {
    const specs = await analysed();
    const lmc = specs['lmc-curves'] as unknown as LayerSpec & { title: { subtitle: string[] } };
    const rules = lmc.layer
      .filter((l) => l.mark.type === 'rule')
      .flatMap((l) => l.data!.values) as {
      definition: string;
      alpha: number;
      barrier: number;
      perSeed: number;
    }[];
    const ends = rules.find((r) => r.definition.includes('mean of the ends'))!;
    const linear = rules.find((r) => r.definition.includes('straight line'))!;
    expect([ends.alpha, ends.barrier, ends.perSeed]).toEqual([0.25, 4, 4]);
    expect([linear.alpha, linear.barrier, linear.perSeed]).toEqual([0.25, 2.5, 2.5]);
    expect(lmc.title.subtitle.join('\n')).toMatch(
      /mean-of-ends barrier \(metric barrier\): separated/,
    );
    const dash = lmc.layer[0]!.encoding.strokeDash as unknown as {
      legend: { symbolType: string; encode: { symbols: { update: { stroke: unknown } } } };
    };
    expect(dash.legend.symbolType).toBe('stroke');
    expect(dash.legend.encode.symbols.update.stroke).toEqual({ value: '#333' });
    // Drawn: the dash legend's samples have a stroke.
    const svg = await renderSvg(specs['lmc-curves']!);
    expect(svg).toMatch(/role-legend-symbol[^>]*><path[^>]*d="M-\d+,0L\d+,0"[^>]*stroke="#333"/);
  });

  test("a one-cycle control's eigenvalue sits at the epoch its cycle ends, beside the cyclic run's last cycle", async () => {
    const specs = await analysed();
    const panels = (
      specs['cycle-analyses'] as unknown as { hconcat: (LayerSpec & { title: string })[] }
    ).hconcat;
    const sharpness = panels.find((p) => p.title === 'top eigenvalue')!;
    const rows = sharpness.data!.values as {
      method: string;
      epoch: number;
      x: number;
      runs: string;
    }[];
    expect(rows.filter((r) => r.method === 'one-cycle ×3').map((r) => r.epoch)).toEqual([12]);
    expect(
      rows
        .filter((r) => r.method === 'cyclic ×3')
        .map((r) => r.epoch)
        .sort((a, b) => a - b),
    ).toEqual([4, 8, 12]);
    const at12 = rows.filter((r) => r.epoch === 12).map((r) => r.x);
    expect(new Set(at12).size).toBe(2);
    expect(tooltipFields(meanLayer(sharpness))).toEqual(
      expect.arrayContaining(['runs', 'n', 'interval']),
    );
    expect(tooltipFields(seedLayer(sharpness))).toEqual(expect.arrayContaining(['run', 'seed']));
  });
});

describe('helpers', () => {
  test('cycle lists read as what they are', () => {
    expect(cyclesLabel([12])).toBe('one 12-epoch cycle');
    expect(cyclesLabel([4, 4, 4])).toBe('3 cycles of 4 epochs');
    expect(cyclesLabel([4, 4, 8])).toBe('2 cycles of 4 epochs, then one 8-epoch cycle');
  });

  test('log ticks are 1, 2, 5 per decade inside the range', () => {
    expect(logTicks(1.5e9, 3e11)).toEqual([2e9, 5e9, 1e10, 2e10, 5e10, 1e11, 2e11]);
  });

  test('dodge spreads the items of one place symmetrically and leaves single ones alone', () => {
    expect(dodge(['a', 'a', 'b', 'a'], (x) => x, 1)).toEqual([-1, 0, 0, 1]);
  });
});
