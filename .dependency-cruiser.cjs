/**
 * The import rules of docs/architecture.md, checked by `npm run lint`: imports flow one way,
 * down the layers
 *
 *   core ← channels ← supervisor ← runtime ← services | nginx | pgbouncer | scheduler ← deploy ← node ← bin
 *
 * and folders of the same layer do not import each other. Tests and benches may import anything;
 * nothing imports them.
 */
const layers = [
  ['core'],
  ['channels'],
  ['supervisor'],
  ['runtime'],
  ['services', 'nginx', 'pgbouncer', 'scheduler'],
  ['deploy'],
  ['node'],
  ['bin'],
];

const forbidden = [];
layers.forEach((layer, i) => {
  const above = layers.slice(i + 1).flat();
  for (const folder of layer) {
    const peers = layer.filter((f) => f !== folder);
    const targets = [...above, ...peers];
    if (targets.length === 0) continue;
    forbidden.push({
      name: `${folder}-imports-down-only`,
      comment: `${folder}/ may import only from the layers below it (docs/architecture.md, "Layers")`,
      severity: 'error',
      from: { path: `^${folder}/` },
      to: { path: `^(${targets.join('|')})/` },
    });
  }
});

forbidden.push(
  {
    name: 'no-circular',
    comment: 'a module cycle: break it by moving the shared piece down a layer',
    severity: 'error',
    from: {},
    // A cycle through type imports only is erased at compile time; a runtime cycle is not.
    to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
  },
  {
    name: 'product-never-imports-tests',
    severity: 'error',
    from: { pathNot: '^(test|bench)/' },
    to: { path: '^(test|bench)/' },
  },
);

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
