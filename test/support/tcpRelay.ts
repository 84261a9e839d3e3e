// A TCP relay in front of a real server (a Redis, a sentinel) that plays what a network can do
// between it and its clients: hold each reply back (a slow peer), or go silent both ways while
// the connections stay open (a partition: what is sent is kept, never answered). close()
// resets every connection through it and stops listening.
import { type AddressInfo, type Socket, connect, createServer } from 'node:net';

export interface TcpRelay {
  /** Where clients connect instead of the server (127.0.0.1). */
  readonly port: number;
  /** From now on nothing passes either way; the connections stay open. */
  silence(): void;
  close(): void;
}

export async function tcpRelay(target: { readonly host: string; readonly port: number }, opts: { readonly replyDelayMs?: number } = {}): Promise<TcpRelay> {
  const delayMs = opts.replyDelayMs ?? 0;
  const sockets: Socket[] = [];
  let silent = false;
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    sockets.push(client, upstream);
    client.on('data', (d) => { if (!silent) upstream.write(d); });
    const reply = (d: Buffer): void => { if (!silent && client.writable) client.write(d); };
    upstream.on('data', (d: Buffer) => { if (delayMs > 0) setTimeout(reply, delayMs, d); else reply(d); });
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      a.on('error', () => b.destroy());
      a.on('close', () => b.destroy());
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    silence: () => { silent = true; },
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}
