/** Where a check of `cyclesparse verify` found its first offence. */

export interface Offence {
  readonly level: number;
  readonly file?: string | undefined;
  readonly layer?: string;
  readonly index?: number;
}

/** Where an offence is: the level, then the file, tensor and flat index where known. */
export function offenceAt(
  level: number,
  file: string | undefined,
  at: { layer?: string | undefined; index?: number | undefined } = {},
): Offence {
  return {
    level,
    ...(file === undefined ? {} : { file }),
    ...(at.layer === undefined ? {} : { layer: at.layer }),
    ...(at.index === undefined ? {} : { index: at.index }),
  };
}
