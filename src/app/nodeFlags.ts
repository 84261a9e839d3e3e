// The V8 flags every long-running hmm process starts with. They can only be given when node
// starts (V8 sizes its heap before any of our code runs; v8.setFlagsFromString is too late for
// these), so every launch point carries them: `npm start` and `npm run hmm` (package.json),
// the image's ENTRYPOINT (Dockerfile, hence every compose service), the bin's shebang, and the
// tests' and benches' child processes. test/unit/app/deployFiles.test.ts holds the launch
// points to this list.
//
// --max-semi-space-size=4: under signal and read load V8 grows the young generation to its
// default ceiling of 2 × 16 MB and keeps it committed; 4 MB semi-spaces (8 MB young
// generation) took about 30 MB off the stack's RSS under the issue-14 load with nothing
// retained longer (BENCHMARKS.md section 4).
// --initial-old-space-size=32 --heap-growing-percent=50: the stack's live heap is ~40–50 MB, yet
// V8 on a large machine let the old generation fill with garbage to ~97 MB before its first
// major collection (RSS 218 MB at 104 s of that load, over the 200 MB target); starting the
// old generation's limit at 32 MB and growing it by half of what survives each collection
// keeps the same load at 172 MB in 120 s and 193 MB over 10 minutes (BENCHMARKS.md section 4).
export const HMM_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--initial-old-space-size=32', '--heap-growing-percent=50'];
