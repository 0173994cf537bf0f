/**
 * A plain float64 multilayer perceptron (dense layers in `io` layout, ReLU between them, none
 * after the last): the independent reference that SNIP and SynFlow scores are checked against.
 */

export interface ReferenceMlp {
  /** Layer l's weight, row-major [inputs, outputs]. */
  readonly weights: readonly Float64Array[];
  /** Layer l's bias, or null for bias-free layers. */
  readonly biases: readonly (Float64Array | null)[];
  /** Widths: inputs, then each layer's outputs. */
  readonly sizes: readonly number[];
}

function layer(mlp: ReferenceMlp, l: number, input: Float64Array, positive: boolean): Float64Array {
  const inputs = mlp.sizes[l]!;
  const outputs = mlp.sizes[l + 1]!;
  const w = mlp.weights[l]!;
  const out = new Float64Array(outputs);
  for (let j = 0; j < outputs; j++) {
    let sum = mlp.biases[l]?.[j] ?? 0;
    if (positive) sum = Math.abs(sum);
    for (let i = 0; i < inputs; i++)
      sum += input[i]! * (positive ? Math.abs(w[i * outputs + j]!) : w[i * outputs + j]!);
    out[j] = sum;
  }
  return out;
}

/** ∂L/∂W and ∂L/∂b per layer, L = mean softmax cross-entropy over the batch; also L. */
export function lossGradientReference(
  mlp: ReferenceMlp,
  images: readonly Float64Array[],
  labels: readonly number[],
): { loss: number; weights: Float64Array[]; biases: (Float64Array | null)[] } {
  const layers = mlp.weights.length;
  const weights = mlp.weights.map((w) => new Float64Array(w.length));
  const biases = mlp.biases.map((b) => (b === null ? null : new Float64Array(b.length)));
  let loss = 0;
  images.forEach((x, n) => {
    const activations: Float64Array[] = [x];
    const preactivations: Float64Array[] = [];
    for (let l = 0; l < layers; l++) {
      const z = layer(mlp, l, activations[l]!, false);
      preactivations.push(z);
      activations.push(l < layers - 1 ? z.map((v) => Math.max(0, v)) : z);
    }
    const logits = activations[layers]!;
    const top = Math.max(...logits);
    const exp = logits.map((v) => Math.exp(v - top));
    const total = exp.reduce((a, b) => a + b, 0);
    loss += (Math.log(total) + top - logits[labels[n]!]!) / images.length;
    let dz = exp.map((v, j) => (v / total - (j === labels[n] ? 1 : 0)) / images.length);
    for (let l = layers - 1; l >= 0; l--) {
      const inputs = mlp.sizes[l]!;
      const outputs = mlp.sizes[l + 1]!;
      const a = activations[l]!;
      for (let i = 0; i < inputs; i++)
        for (let j = 0; j < outputs; j++) weights[l]![i * outputs + j]! += a[i]! * dz[j]!;
      const bias = biases[l];
      if (bias) for (let j = 0; j < outputs; j++) bias[j]! += dz[j]!;
      if (l > 0) {
        const da = new Float64Array(inputs);
        for (let i = 0; i < inputs; i++) {
          let sum = 0;
          for (let j = 0; j < outputs; j++) sum += mlp.weights[l]![i * outputs + j]! * dz[j]!;
          da[i] = preactivations[l - 1]![i]! > 0 ? sum : 0;
        }
        dz = da;
      }
    }
  });
  return { loss, weights, biases };
}

/** |∂L/∂W ⊙ W| per layer, L = mean softmax cross-entropy over the batch. */
export function snipReference(
  mlp: ReferenceMlp,
  images: readonly Float64Array[],
  labels: readonly number[],
): Float64Array[] {
  const { weights } = lossGradientReference(mlp, images, labels);
  return weights.map((g, l) => g.map((v, i) => Math.abs(v * mlp.weights[l]![i]!)));
}

/**
 * SynFlow's direct formula on the positive network (|W|, |b|) with an all-ones input:
 * R = Σ outputs, score = |W| ⊙ ∂R/∂|W|. Also returns R.
 */
export function synflowReference(mlp: ReferenceMlp): { scores: Float64Array[]; total: number } {
  const layers = mlp.weights.length;
  const activations: Float64Array[] = [new Float64Array(mlp.sizes[0]!).fill(1)];
  for (let l = 0; l < layers; l++) activations.push(layer(mlp, l, activations[l]!, true)); // all ≥ 0: ReLU is the identity
  let upstream = new Float64Array(mlp.sizes[layers]!).fill(1);
  const scores: Float64Array[] = new Array<Float64Array>(layers);
  for (let l = layers - 1; l >= 0; l--) {
    const inputs = mlp.sizes[l]!;
    const outputs = mlp.sizes[l + 1]!;
    const w = mlp.weights[l]!;
    const score = new Float64Array(w.length);
    const next = new Float64Array(inputs);
    for (let i = 0; i < inputs; i++) {
      for (let j = 0; j < outputs; j++) {
        score[i * outputs + j] = Math.abs(w[i * outputs + j]!) * activations[l]![i]! * upstream[j]!;
        next[i]! += Math.abs(w[i * outputs + j]!) * upstream[j]!;
      }
    }
    scores[l] = score;
    upstream = next;
  }
  return { scores, total: activations[layers]!.reduce((a, b) => a + b, 0) };
}
