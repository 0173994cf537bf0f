/**
 * A model's initial values, drawn on the TypeScript side so that one seed gives the same network
 * on every engine. Initialisation follows the authors' code: Kaiming normal with fan_in and ReLU
 * gain for every conv and dense weight (std = √(2 / fan_in)), drawn from the experiment's `init`
 * stream in parameter order; biases 0; BatchNorm weight 1, bias 0, running mean 0 and variance 1.
 */

import { randomStream } from '../core/random.js';
import { buffers, parameters, type ModelSpec } from './spec.js';

/** Parameters then BatchNorm buffers, by name, in spec order (the order engines keep). */
export function initialValues(
  spec: ModelSpec,
  seed: number,
  streamName = 'init',
): Map<string, Float32Array> {
  const stream = randomStream(seed, streamName);
  const values = new Map<string, Float32Array>();
  for (const param of parameters(spec)) {
    const size = param.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (param.role === 'weight') {
      const std = Math.sqrt(2 / param.fanIn!);
      for (let i = 0; i < size; i++) data[i] = std * stream.normal();
    } else if (param.role === 'bn-gamma') {
      data.fill(1);
    }
    values.set(param.name, data);
  }
  for (const buffer of buffers(spec))
    values.set(
      buffer.name,
      new Float32Array(buffer.shape[0]!).fill(buffer.role === 'bn-variance' ? 1 : 0),
    );
  return values;
}
