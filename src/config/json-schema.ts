/**
 * The JSON Schema of configuration files, for editors (docs/config.schema.json). Generated from
 * the zod schemas, so it cannot drift: a test compares the committed file with this output.
 * Every section may be partial, since a preset can supply it.
 */

import { z } from 'zod';
import { PRESET_NAMES } from './presets.js';
import {
  conventionsInputSchema,
  dataSchema,
  methodSchema,
  modelSchema,
  sweepSchema,
  trainingSchema,
} from './schema.js';

export function configJsonSchema(): Record<string, unknown> {
  const file = z
    .object({
      extends: z.enum(PRESET_NAMES as [string, ...string[]]).optional(),
      name: z.string().optional(),
      model: modelSchema.partial().optional(),
      data: dataSchema.partial().optional(),
      training: trainingSchema.partial().optional(),
      method: methodSchema.optional(),
      conventions: conventionsInputSchema.optional(),
      seed: z.number().int().min(0).optional(),
      sweep: sweepSchema.optional(),
    })
    .strict();
  return {
    ...z.toJSONSchema(file, { io: 'input' }),
    title: 'cyclesparse experiment configuration',
  };
}
