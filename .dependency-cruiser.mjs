/**
 * The layer order of src/, checked by `npm run lint` (dependency-cruiser). docs/ARCHITECTURE.md
 * ("Layers") describes the same list; change both together.
 *
 * LAYERS is the one place the order is written, lowest first. An entry is a folder of src/ or a
 * file at its top (`self-check` is src/self-check.ts). A module may import only from layers below
 * its own; entries that share a layer are independent of each other (neither imports the other).
 * Every folder and top-level file of src/ must be listed: a new one fails lint until it has a
 * place. Test files (`*.test.ts`) are not checked: tests beside a module may use helpers from
 * above it (the engine's tests score masks with src/prune).
 */

/** @type {readonly (readonly string[])[]} */
export const LAYERS = [
  ['core', 'text'],
  ['models', 'data', 'stats', 'contracts'],
  ['engine', 'self-check'],
  ['train', 'prune'],
  ['methods'],
  ['config'],
  ['store', 'sinks'],
  ['harness', 'results'],
  ['analysis', 'queue'],
  ['claims'],
  ['report', 'verify'],
  ['cli', 'index'],
];

/** Modules of these entries: the folder src/<name>/ or the file src/<name>.ts. */
const modulesOf = (names) => `^src/(${names.join('|')})(/|\\.ts$)`;

const TESTS = '\\.test\\.ts$';

const layerRules = LAYERS.flatMap((layer, i) => {
  const above = LAYERS.slice(i + 1).flat();
  return [
    ...(above.length === 0
      ? []
      : [
          {
            name: `upward-from-${layer.join('-')}`,
            comment: `${layer.join(', ')} may not import from a higher layer (${above.join(', ')}): see LAYERS in .dependency-cruiser.mjs and docs/ARCHITECTURE.md`,
            severity: 'error',
            from: { path: modulesOf(layer) },
            to: { path: modulesOf(above) },
          },
        ]),
    ...layer
      .filter(() => layer.length > 1)
      .map((name) => ({
        name: `sibling-from-${name}`,
        comment: `${layer.join(', ')} share a layer and are independent: ${name} may not import from the others`,
        severity: 'error',
        from: { path: modulesOf([name]) },
        to: { path: modulesOf(layer.filter((other) => other !== name)) },
      })),
  ];
});

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    ...layerRules,
    {
      name: 'not-in-a-layer',
      comment: 'every folder and top-level file of src/ needs a place in LAYERS',
      severity: 'error',
      from: { path: '^src/', pathNot: modulesOf(LAYERS.flat()) },
      to: {},
    },
    {
      name: 'to-no-layer',
      comment: 'every folder and top-level file of src/ needs a place in LAYERS',
      severity: 'error',
      from: {},
      to: { path: '^src/', pathNot: modulesOf(LAYERS.flat()) },
    },
    {
      name: 'no-circular-folders',
      comment: 'folders of src/ may not depend on each other in a cycle',
      severity: 'error',
      scope: 'folder',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'a relative import that resolves to nothing (a moved file) escapes every rule above',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true, path: '^\\.\\.?/' },
    },
  ],
  options: {
    // TypeScript 6 is newer than dependency-cruiser 16 supports; swc parses the sources, type-only
    // imports included.
    parser: 'swc',
    exclude: { path: TESTS },
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
