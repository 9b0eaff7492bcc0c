import { createServer } from 'node:net';
import { isPortFree } from '../../src/deploy/index.ts';

/** A base port with `n` free ports above it (random, so that parallel runs do not collide). */
export async function freePortBase(n: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 30_000);
    let ok = true;
    for (let p = base; p < base + n && ok; p++) ok = (await isPortFree('127.0.0.1', p)).free;
    if (ok) return base;
  }
  throw new Error('no free port range');
}

/** `n` free ports, anywhere (the system picks them; each was free a moment ago). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve) => {
          const s = createServer();
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}
