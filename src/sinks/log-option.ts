/**
 * The `--log <sink>` option's help and collector, for the commands that train. Imports nothing,
 * so command modules can load it at their top level and `--help` stays fast (the sinks
 * themselves are imported inside the actions).
 */

export const LOG_HELP =
  'stream each epoch’s metrics to tensorboard=DIR or mlflow (MLFLOW_TRACKING_URI); repeatable; docs/INTEGRATIONS.md';

/** Commander's collector for a repeatable option (no default: help would print "[]"). */
export const collect = (value: string, previous: string[] | undefined): string[] => [
  ...(previous ?? []),
  value,
];
