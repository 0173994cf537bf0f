/**
 * `cyclesparse/results`: the store as tables (export rows, epochs, statuses), export to CSV,
 * JSON Lines and Parquet, and SQL over a store. A subpath of its own so that importing the main
 * entry does not load DuckDB's native module.
 */
export * from './schema.js';
export * from './rows.js';
export * from './duck.js';
export * from './status.js';
