#!/usr/bin/env node
// `hmm` entry point: runs the TypeScript CLI in this same process with tsx's loader
// registered (no build step, and no wrapper process between a signal and the stack).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
