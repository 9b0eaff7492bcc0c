/** Checks, before anything starts, that the ports a deployment needs are free. */
import { createServer } from 'node:net';
import type { DeploymentPort } from './deployment-file.ts';
import { DeployError } from './errors.ts';

/** Whether `port` can be listened on at `host` (false when it is in use or not permitted). */
export function isPortFree(host: string, port: number): Promise<{ free: boolean; code?: string }> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve({ free: false, code: err.code ?? 'ERROR' }));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve({ free: true })));
  });
}

/**
 * Throws DeployError `ERR_PORT_IN_USE` naming the first port that is taken, its service, the
 * deployment key that sets it, and the remedy.
 */
export async function assertPortsFree(host: string, ports: readonly DeploymentPort[]): Promise<void> {
  for (const p of ports) {
    const r = await isPortFree(host, p.port);
    if (r.free) continue;
    const why = r.code === 'EADDRINUSE' ? 'is in use' : `cannot be opened (${r.code})`;
    throw new DeployError(
      'ERR_PORT_IN_USE',
      `port ${p.port} on ${host} (${p.service}, ${p.path}) ${why}: see what holds it with \`ss -ltnp 'sport = :${p.port}'\` ` +
        `(another \`securecloud up\`? try \`securecloud status\`), stop it, or set another ${p.path} in the deployment file`,
    );
  }
}
