// The import-boundary rule: which plane of src/ may import which. Each layer may import
// itself and the layers listed before it in LAYERS (dependencies point down); two layers on
// the same line of the order do not import each other. A break fails `npm run lint`, which
// `npm test` runs. docs/ARCHITECTURE.md draws the same order.
import { dirname, relative, resolve, sep } from 'node:path';

/** Bottom to top. Layers in one inner array share a rank and may not import each other. */
export const LAYERS = [
  ['core'],
  ['util'],
  ['obs'],
  ['config'],
  ['bus', 'http'],
  ['market'],
  ['venues'],
  ['engine'],
  ['strategy'],
  ['portfolio'],
  ['lifecycle'],
  ['ops'],
  ['app'],
  ['replay'],
  ['cli'],
];

const rank = new Map(LAYERS.flatMap((row, i) => row.map((name) => [name, i])));

function layerOf(file, srcRoot) {
  const rel = relative(srcRoot, file);
  if (rel.startsWith('..')) return null;
  const top = rel.split(sep)[0];
  return rank.has(top) ? top : null;
}

export const layersPlugin = {
  rules: {
    'import-direction': {
      meta: {
        type: 'problem',
        docs: { description: 'a plane of src/ imports only planes below it' },
        schema: [],
        messages: {
          up: "{{from}} may not import {{to}} ('{{spec}}'): {{to}} sits above {{from}} in the layer order (eslint/layers.js)",
          side: "{{from}} may not import {{to}} ('{{spec}}'): they share a rank in the layer order (eslint/layers.js)",
          unknown: "'{{file}}' is in no layer of eslint/layers.js: add its folder to the order",
        },
      },
      create(context) {
        const file = context.filename;
        const srcRoot = resolve(context.cwd, 'src');
        if (relative(srcRoot, file).startsWith('..')) return {};
        const from = layerOf(file, srcRoot);
        const check = (node, spec) => {
          if (typeof spec !== 'string' || !spec.startsWith('.')) return;
          const to = layerOf(resolve(dirname(file), spec), srcRoot);
          if (from === null || to === null || to === from) return;
          const a = rank.get(from);
          const b = rank.get(to);
          if (b > a) context.report({ node, messageId: 'up', data: { from, to, spec } });
          else if (b === a) context.report({ node, messageId: 'side', data: { from, to, spec } });
        };
        return {
          Program(node) {
            if (from === null) context.report({ node, messageId: 'unknown', data: { file: relative(context.cwd, file) } });
          },
          ImportDeclaration: (node) => check(node.source, node.source.value),
          ExportAllDeclaration: (node) => check(node.source, node.source.value),
          ExportNamedDeclaration: (node) => node.source && check(node.source, node.source.value),
          ImportExpression: (node) => node.source.type === 'Literal' && check(node.source, node.source.value),
        };
      },
    },
  },
};
