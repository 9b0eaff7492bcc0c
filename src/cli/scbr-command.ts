/**
 * `securecloud scbr-router`: runs the attested SCBR router (service `scbr-router`). It binds the
 * `scbr.publish` and `scbr.subscribe` channels on the secure bus, serves HTTPS `/healthz` (with the
 * router's stats) and `/metrics`, logs JSON lines to stderr, prints one `ready` JSON line to stdout
 * and stops gracefully on SIGINT/SIGTERM. See docs/bus.md, "SCBR".
 */
import type { Command } from 'commander';
import {
  createBusIdentity,
  createCasKeyDirectory,
  createScbrRouter,
  createZmqTransport,
  instanceClientCert,
  SCBR_CHANNELS,
  type ScbrRouter,
} from '../bus/index.ts';
import { createCasClient } from '../cas/index.ts';
import {
  createHttpServer,
  createMetricsRegistry,
  HttpRouter,
  type HttpServer,
  healthRoute,
  metricsRoute,
  registerProcessMetrics,
  startService,
} from '../platform/index.ts';
import { CommandFailure, EXIT, UsageError } from './io.ts';
import type { CliRun } from './main.ts';
import {
  attestFlags,
  type CasFlags,
  casOptions,
  hostPort,
  jsonLogger,
  untilSignal,
} from './metering-command.ts';

/** The service name the router attests as (the CAS policy's `services` key). */
export const SCBR_ROUTER_SERVICE = 'scbr-router';

function endpointArg(value: string, name: string): string {
  const m = /^tcp:\/\/([^\s/]{1,200}):(\d{1,5})$/.exec(value);
  if (m === null || Number(m[2]) > 65535)
    throw new UsageError(`${name} ${value}: expected tcp://HOST:PORT (e.g. tcp://127.0.0.1:7300)`);
  return value;
}

/** Registers `securecloud scbr-router`. */
export function registerScbrCommands(program: Command, run: CliRun): void {
  casOptions(
    program
      .command('scbr-router')
      .description(
        'run the attested SCBR router: content-based routing of sealed publications (channels scbr.publish, scbr.subscribe)',
      )
      .option(
        '--publish <endpoint>',
        'bus endpoint publishers connect to (ZeroMQ CURVE)',
        'tcp://127.0.0.1:7300',
      )
      .option(
        '--subscribe <endpoint>',
        'bus endpoint subscribers connect to (ZeroMQ CURVE)',
        'tcp://127.0.0.1:7301',
      )
      .option('--http <host:port>', 'HTTPS API (/healthz, /metrics)', '127.0.0.1:7380'),
  ).action(async (f: CasFlags & { publish: string; subscribe: string; http: string }) => {
    const publishEndpoint = endpointArg(f.publish, '--publish');
    const subscribeEndpoint = endpointArg(f.subscribe, '--subscribe');
    const http = hostPort(f.http, '--http');
    const log = jsonLogger(run.io, SCBR_ROUTER_SERVICE);
    const o = await attestFlags(f);
    const closers: (() => Promise<void> | void)[] = [];
    const closeAll = async (): Promise<void> => {
      for (const close of closers.reverse()) await Promise.resolve(close()).catch(() => undefined);
      closers.length = 0;
    };
    let router: ScbrRouter;
    let apiUrl: string;
    let attested: Awaited<ReturnType<typeof startService>>;
    try {
      attested = await startService({
        name: SCBR_ROUTER_SERVICE,
        casUrl: o.casUrl,
        casRootPem: o.casRootPem,
        tee: o.tee,
        measurePath: o.measurePath,
        ...(o.simStateDir ? { simStateDir: o.simStateDir } : {}),
        onLeaseError: (err) => log('warn', 'CAS lease renewal failed', { error: err.message }),
      });
      const svc = attested;
      closers.push(() => svc.close());
      const metrics = createMetricsRegistry();
      registerProcessMetrics(metrics, {
        service: SCBR_ROUTER_SERVICE,
        platform: attested.platform,
        simulation: attested.simulation,
      });
      const cas = createCasClient({
        url: o.casUrl,
        rootPem: o.casRootPem,
        clientCert: instanceClientCert(attested),
      });
      closers.push(() => cas.close());
      const identity = await createBusIdentity(attested, cas);
      const keyDirectory = createCasKeyDirectory({
        cas,
        channels: [SCBR_CHANNELS.publish, SCBR_CHANNELS.subscribe],
      });
      closers.push(() => keyDirectory.close());
      const logger = {
        log: (level: 'info' | 'warn' | 'error', msg: string, fields?: object) =>
          log(level, msg, fields as Record<string, unknown>),
      };
      const transport = createZmqTransport({ keyDirectory, metrics, logger });
      closers.push(() => transport.close());
      const r = await createScbrRouter({
        transport,
        identity,
        signer: attested,
        publishEndpoint,
        subscribeEndpoint,
        metrics,
        logger,
      });
      router = r;
      closers.push(() => r.close());
      const routes = new HttpRouter();
      healthRoute(routes, () => ({ service: SCBR_ROUTER_SERVICE, keyId: r.keyId, ...r.stats() }));
      metricsRoute(routes, metrics);
      const tls = attested.tlsOptions();
      const server: HttpServer = createHttpServer({
        router: routes,
        tls: { key: tls.key as string, cert: tls.cert as string },
      });
      apiUrl = (await server.listen(http.port, http.host)).url;
      closers.push(() => server.close({ deadlineMs: 2000 }));
    } catch (err) {
      await closeAll();
      throw new CommandFailure(`the SCBR router could not start: ${(err as Error).message}`);
    }
    run.io.out(
      JSON.stringify({
        event: 'ready',
        service: SCBR_ROUTER_SERVICE,
        instanceId: attested.instanceId,
        simulation: attested.simulation,
        apiUrl,
        publishEndpoint: router.publishEndpoint,
        subscribeEndpoint: router.subscribeEndpoint,
      }),
    );
    const signal = await untilSignal();
    log('info', 'stopping', { signal, ...router.stats() });
    await closeAll();
    run.exitCode = EXIT.ok;
  });
}
