import { readFileSync } from 'node:fs';
import { isPortFree } from '../../src/deploy/index.ts';

/**
 * The lowest port the kernel hands out as a client's source port (Linux's
 * ip_local_port_range; 32768 where it cannot be read). A test that closes a listener and binds
 * the same port again must use a port below it: while nothing listens, a client reconnecting to a
 * port inside the range can be given that very port as its source and connect to itself (TCP
 * simultaneous open), and the port is then taken.
 */
export function ephemeralPortsFrom(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 1024) return low;
  } catch {
    // not Linux: the IANA default below
  }
  return 32_768;
}

/**
 * A base port with `n` free ports above it, all below the ephemeral range (random, so that
 * parallel runs do not collide).
 */
export async function freePortBase(n: number): Promise<number> {
  const top = ephemeralPortsFrom() - n;
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 10_000 + Math.floor(Math.random() * (top - 10_000));
    let ok = true;
    for (let p = base; p < base + n && ok; p++) ok = (await isPortFree('127.0.0.1', p)).free;
    if (ok) return base;
  }
  throw new Error('no free port range');
}

/**
 * `n` distinct free ports below the ephemeral range (each was free a moment ago), so that a test
 * may stop a service and start it again on the same port.
 */
export async function freePorts(n: number): Promise<number[]> {
  const top = ephemeralPortsFrom();
  const ports = new Set<number>();
  for (let attempt = 0; ports.size < n; attempt++) {
    if (attempt >= 50 * n) throw new Error(`no ${n} free ports below ${top}`);
    const port = 10_000 + Math.floor(Math.random() * (top - 10_000));
    if (!ports.has(port) && (await isPortFree('127.0.0.1', port)).free) ports.add(port);
  }
  return [...ports];
}
