// The method registry: one line per method (../registry.ts reads this list).
export { coupling } from './coupling.js';
export { cyclic } from './cyclic.js';
export { dense } from './dense.js';
export { imp } from './imp.js';
export { lrr } from './lrr.js';
export { oneCycle } from './one-cycle.js';
export { pai } from './pai.js';
export { sculpt } from './sculpt.js';
export { wr } from './wr.js';
