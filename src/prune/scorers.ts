// The scorer registry: one line per scorer (registry.ts reads this list).
export { magnitude } from './magnitude.js';
export { random } from './random.js';
export { snip } from './snip.js';
export { synflow } from './synflow.js';
