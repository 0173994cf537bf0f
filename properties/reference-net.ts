/**
 * An independent float64 reference for any model spec: the forward pass of one image written out
 * as loops (no TF.js, no PyTorch, nothing shared with src/), and SynFlow by its definition.
 *
 * SynFlow's R is a sum over input-output paths of products along them, and each path uses a
 * given weight at most once, so with max pooling's choices held as they are at the network's
 * weights (its gradient routes through them, first maximum on ties), R is affine in every single
 * weight: ∂R/∂w = R(w := 1) − R(w := 0) exactly. The oracle's scores are w · that difference, in
 * float64, with no scaling at all.
 */

import type { ModelSpec, Node } from '../src/models/spec.js';

/** A feature map: height × width × channels, HWC, or a vector (height = width = 1). */
interface Map3 {
  readonly h: number;
  readonly w: number;
  readonly c: number;
  readonly data: Float64Array;
}

type Values = ReadonlyMap<string, Float64Array>;

function get(values: Values, name: string): Float64Array {
  const found = values.get(name);
  if (found === undefined) throw new Error(`reference: no values for ${name}`);
  return found;
}

function conv(x: Map3, node: Extract<Node, { op: 'conv' }>, values: Values): Map3 {
  const { kernel: k, stride: s, padding: p, out } = node;
  const h = Math.floor((x.h + 2 * p - k) / s) + 1;
  const w = Math.floor((x.w + 2 * p - k) / s) + 1;
  const weight = get(values, `${node.name}.weight`); // [k, k, in, out]
  const bias = node.bias ? get(values, `${node.name}.bias`) : undefined;
  const data = new Float64Array(h * w * out);
  for (let oy = 0; oy < h; oy++)
    for (let ox = 0; ox < w; ox++)
      for (let co = 0; co < out; co++) {
        let sum = bias?.[co] ?? 0;
        for (let ky = 0; ky < k; ky++) {
          const iy = oy * s + ky - p;
          if (iy < 0 || iy >= x.h) continue;
          for (let kx = 0; kx < k; kx++) {
            const ix = ox * s + kx - p;
            if (ix < 0 || ix >= x.w) continue;
            for (let ci = 0; ci < x.c; ci++)
              sum +=
                x.data[(iy * x.w + ix) * x.c + ci]! *
                weight[((ky * k + kx) * x.c + ci) * out + co]!;
          }
        }
        data[(oy * w + ox) * out + co] = sum;
      }
  return { h, w, c: out, data };
}

/**
 * Max pooling picks the first maximum of each window in scan order (PyTorch's and TF.js's rule);
 * `routes`, when given, replays the choices recorded at another point instead (see SynFlow).
 */
function pool(
  x: Map3,
  node: Extract<Node, { op: 'maxpool' | 'avgpool' }>,
  routes: number[] | undefined,
  recorded: number[],
): Map3 {
  const { size: k, stride: s, padding: p } = node;
  const h = Math.floor((x.h + 2 * p - k) / s) + 1;
  const w = Math.floor((x.w + 2 * p - k) / s) + 1;
  const data = new Float64Array(h * w * x.c);
  for (let oy = 0; oy < h; oy++)
    for (let ox = 0; ox < w; ox++)
      for (let c = 0; c < x.c; c++) {
        let best = -1;
        let max = -Infinity;
        let sum = 0;
        for (let ky = 0; ky < k; ky++)
          for (let kx = 0; kx < k; kx++) {
            const iy = oy * s + ky - p;
            const ix = ox * s + kx - p;
            if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
            const at = (iy * x.w + ix) * x.c + c;
            sum += x.data[at]!;
            if (x.data[at]! > max) [max, best] = [x.data[at]!, at];
          }
        const out = (oy * w + ox) * x.c + c;
        if (node.op === 'avgpool') data[out] = sum / (k * k);
        else {
          const chosen = routes === undefined ? best : routes[recorded.length]!;
          recorded.push(chosen);
          data[out] = x.data[chosen]!;
        }
      }
  return { h, w, c: x.c, data };
}

function run(
  nodes: readonly Node[],
  input: Map3,
  values: Values,
  routes: number[] | undefined,
  recorded: number[],
): Map3 {
  let x = input;
  for (const node of nodes) {
    switch (node.op) {
      case 'conv':
        x = conv(x, node, values);
        break;
      case 'bn': {
        // Evaluation mode: running statistics.
        const [mean, variance, gamma, beta] = ['mean', 'variance', 'gamma', 'beta'].map((k) =>
          get(values, `${node.name}.${k}`),
        ) as [Float64Array, Float64Array, Float64Array, Float64Array];
        const data = x.data.map((v, i) => {
          const c = i % x.c;
          return ((v - mean[c]!) / Math.sqrt(variance[c]! + 1e-5)) * gamma[c]! + beta[c]!;
        });
        x = { ...x, data };
        break;
      }
      case 'relu':
        x = { ...x, data: x.data.map((v) => Math.max(0, v)) };
        break;
      case 'maxpool':
      case 'avgpool':
        x = pool(x, node, routes, recorded);
        break;
      case 'global-avgpool': {
        const data = new Float64Array(x.c);
        for (let i = 0; i < x.h * x.w; i++)
          for (let c = 0; c < x.c; c++) data[c]! += x.data[i * x.c + c]! / (x.h * x.w);
        x = { h: 1, w: 1, c: x.c, data };
        break;
      }
      case 'flatten':
        x = { h: 1, w: 1, c: x.data.length, data: x.data };
        break;
      case 'dense': {
        const weight = get(values, `${node.name}.weight`); // [in, out]
        const bias = node.bias ? get(values, `${node.name}.bias`) : undefined;
        const data = new Float64Array(node.out);
        for (let o = 0; o < node.out; o++) {
          let sum = bias?.[o] ?? 0;
          for (let i = 0; i < node.in; i++) sum += x.data[i]! * weight[i * node.out + o]!;
          data[o] = sum;
        }
        x = { h: 1, w: 1, c: node.out, data };
        break;
      }
      case 'residual': {
        const body = run(node.body, x, values, routes, recorded);
        const shortcut =
          node.shortcut.length === 0 ? x : run(node.shortcut, x, values, routes, recorded);
        x = { ...body, data: body.data.map((v, i) => v + shortcut.data[i]!) };
        break;
      }
    }
  }
  return x;
}

/**
 * The logits of one image (HWC values) in evaluation mode, in float64. Max pooling's choices are
 * appended to `recorded`, or replayed from `routes`.
 */
export function referenceLogits(
  spec: ModelSpec,
  values: Values,
  image: Float64Array,
  routes?: number[],
  recorded: number[] = [],
): Float64Array {
  const [h, w, c] = spec.input;
  return run(spec.nodes, { h, w, c, data: image }, values, routes, recorded).data;
}

/**
 * SynFlow scores by the definition: every parameter and buffer made positive, `kept` weights
 * (by weight name, 0/1 per weight) applied, R = Σ logits of an all-ones image, and for every
 * weight of the `scored` names w · (R(w := 1) − R(w := 0)).
 */
export function synflowDefinition(
  spec: ModelSpec,
  values: ReadonlyMap<string, Float32Array>,
  kept: ReadonlyMap<string, ArrayLike<number>>,
  scored: readonly string[],
): { r: number; scores: Map<string, Float64Array> } {
  const positive = new Map<string, Float64Array>();
  for (const [name, data] of values) {
    const mask = kept.get(name);
    positive.set(
      name,
      Float64Array.from(data, (v, i) => (mask !== undefined && mask[i] === 0 ? 0 : Math.abs(v))),
    );
  }
  const [h, w, c] = spec.input;
  const ones = new Float64Array(h * w * c).fill(1);
  const routes: number[] = [];
  referenceLogits(spec, positive, ones, undefined, routes);
  const r = () => referenceLogits(spec, positive, ones, routes).reduce((a, b) => a + b, 0);
  const scores = new Map<string, Float64Array>();
  for (const name of scored) {
    const weight = positive.get(name)!;
    const out = new Float64Array(weight.length);
    for (let i = 0; i < weight.length; i++) {
      const was = weight[i]!;
      if (was === 0) continue;
      weight[i] = 1;
      const one = r();
      weight[i] = 0;
      const zero = r();
      weight[i] = was;
      out[i] = was * (one - zero);
    }
    scores.set(name, out);
  }
  return { r: r(), scores };
}
