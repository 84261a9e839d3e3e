// A whole buffer written to a descriptor: writeSync may write fewer bytes than asked (a full
// disk, a signal), so it is called again for the rest. The rotating logs' appends and the
// quarantine's copies write through it.
import { writeSync } from 'node:fs';

export function writeAll(fd: number, buf: Buffer): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}
