/** cyclesparse: the library entry point. */
export * from './core/index.js';
