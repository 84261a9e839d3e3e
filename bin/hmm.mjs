#!/usr/bin/env -S node --max-semi-space-size=4 --initial-old-space-size=32 --heap-growing-percent=50
// `hmm` entry point: runs the TypeScript CLI in this same process with tsx's loader
// registered (no build step, and no wrapper process between a signal and the stack). The
// shebang's V8 flags are src/app/nodeFlags.ts (`node bin/hmm.mjs` without them runs, with a
// larger young generation and an old generation that fills with garbage before it collects).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
