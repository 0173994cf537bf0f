import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { applyOverrides, isOverride, parseOverride, parseOverrides } from './overrides.js';
import { ConfigError, loadConfigFile, resolveRun, resolveRuns, runId } from './resolve.js';
import { editDistance, nearest } from './suggest.js';

const file = (text: string): string => {
  const path = join(mkdtempSync(join(tmpdir(), 'overrides-')), 'config.yaml');
  writeFileSync(path, text);
  return path;
};
const BASE = 'extends: mini-mnist-lenet300\nmethod: { name: lrr, targetSparsity: 0.9 }\n';

describe('key=value overrides', () => {
  test('values are read as YAML: numbers, booleans, lists, maps and strings', () => {
    expect(parseOverride('training.epochsPerCycle=8').value).toBe(8);
    expect(parseOverride('training.peak=0.1').value).toBe(0.1);
    expect(parseOverride('training.nesterov=true').value).toBe(true);
    expect(parseOverride('sweep.seeds=[1,2]').value).toEqual([1, 2]);
    expect(parseOverride('model.prunable={first: false}').value).toEqual({ first: false });
    expect(parseOverride('training.shape=cosine').value).toBe('cosine');
    expect(parseOverride('data.dir=/tmp/a=b').value).toBe('/tmp/a=b');
  });
  test('nested keys set one field and keep the rest of their section', () => {
    const [config] = resolveRuns(
      applyOverrides(
        loadConfigFile(file(`${BASE}training: { batchSize: 64 }\n`)),
        parseOverrides(['training.epochsPerCycle=8', 'seed=3', 'method.targetSparsity=0.5']),
      ),
    );
    expect(config!.training.epochsPerCycle).toBe(8);
    expect(config!.training.batchSize).toBe(64); // from the file
    expect(config!.training.peak).toBe(0.05); // from the preset
    expect(config!.seed).toBe(3);
    expect((config!.method as { targetSparsity: number }).targetSparsity).toBe(0.5);
  });
  test('the run id is the one the edited file gives', () => {
    const overridden = applyOverrides(
      loadConfigFile(file(BASE)),
      parseOverrides(['training.epochsPerCycle=8', 'seed=3']),
    );
    const edited = loadConfigFile(file(`${BASE}training:\n  epochsPerCycle: 8\nseed: 3\n`));
    expect(runId(resolveRun(overridden))).toBe(runId(resolveRun(edited)));
    expect(runId(resolveRun(overridden))).not.toBe(runId(resolveRun(loadConfigFile(file(BASE)))));
  });
  test('an override is validated like file content', () => {
    const overridden = applyOverrides(
      loadConfigFile(file(BASE)),
      parseOverrides(['training.epochsPerCycle=0']),
    );
    expect(() => resolveRun(overridden)).toThrow(/training\.epochsPerCycle: Too small/);
  });
  test('an unknown key is refused naming it, with the nearest field', () => {
    expect(() => parseOverride('training.epochPerCycle=8')).toThrow(ConfigError);
    expect(() => parseOverride('training.epochPerCycle=8')).toThrow(
      /"epochPerCycle" is not a field of training \(did you mean epochsPerCycle\?\)/,
    );
    expect(() => parseOverride('traning.peak=1')).toThrow(/did you mean training\?/);
    expect(() => parseOverride('zzz=1')).toThrow(/"zzz" is not a field of the top level; known: /);
    expect(() => parseOverride('seed.x=1')).toThrow(/seed is a value, not a section/);
    expect(() => parseOverride('method.targetSparsty=0.5')).toThrow(
      /did you mean targetSparsity\?/,
    );
  });
  test('a section the file gives as a value is refused naming it', () => {
    const document = loadConfigFile(file(`${BASE}conventions: torch\n`));
    expect(() => applyOverrides(document, parseOverrides(['conventions.counting=floor']))).toThrow(
      /conventions is "torch" here, not a section; set conventions=\{\.\.\.\} whole instead/,
    );
  });
  test('a key the sweep varies cannot be overridden', () => {
    const document = loadConfigFile(file(`${BASE}sweep: { seeds: [0, 1] }\n`));
    expect(() => applyOverrides(document, parseOverrides(['seed=3']))).toThrow(
      /seed: the sweep sets seed in every cell \(sweep\.seeds\)/,
    );
    // The method's target under sweep.sparsities, the method under sweep.methods, and a field
    // inside a grid key: each would be set again in every cell.
    const sparsities = loadConfigFile(file(`${BASE}sweep: { sparsities: [0.5, 0.9] }\n`));
    expect(() => applyOverrides(sparsities, parseOverrides(['method.targetSparsity=0.8']))).toThrow(
      /method\.targetSparsity: the sweep sets .* \(sweep\.sparsities\)/,
    );
    const methods = loadConfigFile(file(`${BASE}sweep: { methods: [{ name: dense }] }\n`));
    expect(() => applyOverrides(methods, parseOverrides(['method.name=imp']))).toThrow(
      /\(sweep\.methods\)/,
    );
    const grid = loadConfigFile(
      file(`${BASE}sweep: { grid: { training.epochsPerCycle: [2, 3] } }\n`),
    );
    expect(() => applyOverrides(grid, parseOverrides(['training={}']))).toThrow(/\(sweep\.grid\)/);
    expect(applyOverrides(grid, parseOverrides(['training.batchSize=32']))).toBeDefined();
  });
  test('command-line arguments are overrides when they start with a key and =', () => {
    expect(isOverride('seed=3')).toBe(true);
    expect(isOverride('training.lr-x=3')).toBe(true);
    expect(isOverride('config.yaml')).toBe(false);
    expect(isOverride('./a=b.yaml')).toBe(false);
    expect(isOverride('=3')).toBe(false);
  });
});

describe('did you mean', () => {
  test('edit distance counts insertions, deletions, substitutions and swaps', () => {
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('peak', 'paek')).toBe(1);
    expect(editDistance('seed', 'seed')).toBe(0);
    expect(nearest('epochPerCycle', ['batchSize', 'epochsPerCycle'])).toBe('epochsPerCycle');
    expect(nearest('xyz', ['batchSize', 'epochsPerCycle'])).toBeUndefined();
  });
  test('unknown keys in a configuration file name the nearest known key', () => {
    expect(() =>
      resolveRun(loadConfigFile(file(`${BASE}training: { epochPerCycle: 8 }\n`)), 'config.yaml'),
    ).toThrow(/training: Unrecognized key: "epochPerCycle" \(did you mean epochsPerCycle\?\)/);
    expect(() => resolveRun(loadConfigFile(file(`${BASE}sed: 3\n`)))).toThrow(
      /\(top level\): Unrecognized key: "sed" \(did you mean seed\?\)/,
    );
    // Method options: the nearest option of the method named, not of another method.
    expect(() =>
      resolveRun(
        loadConfigFile(
          file('extends: mini-mnist-lenet300\nmethod: { name: lrr, targetSparsty: 0.9 }\n'),
        ),
      ),
    ).toThrow(/method: Unrecognized key: "targetSparsty" \(did you mean targetSparsity\?\)/);
    expect(() => resolveRuns(loadConfigFile(file(`${BASE}sweep: { seed: [1] }\n`)))).toThrow(
      /sweep: Unrecognized key: "seed" \(did you mean seeds\?\)/,
    );
  });
});
