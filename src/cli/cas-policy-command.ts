import { X509Certificate } from 'node:crypto';
import type { Command } from 'commander';
import {
  type CasClient,
  findUserByPublicKey,
  isCasError,
  loadUserKey,
  type Policy,
  type PolicySignature,
  parsePolicy,
  policyHash,
  signPolicy,
} from '../cas/index.ts';
import {
  type CasTargetFlags,
  casAction,
  collect,
  openClient,
  readText,
  withTarget,
  writePrivate,
} from './cas-command.ts';
import { formatTable, UsageError } from './io.ts';
import type { CliRun } from './main.ts';

/** A signature collected offline with `cas policy sign`. */
interface SignatureFile extends PolicySignature {
  readonly policyHash: string;
}

/** Registers `cas policy apply|sign|show|history`. */
export function registerCasPolicyCommands(cas: Command, run: CliRun): void {
  const policy = cas.command('policy').description('apply, sign and read CAS policies');
  withTarget(
    policy
      .command('apply')
      .description('apply a policy (YAML or JSON), signed by --as and any further keys or signature files')
      .argument('<file>', 'the policy document; its exact bytes are hashed and signed')
      .requiredOption('--as <key.pem>', 'your user key: authenticates the request and signs the policy')
      .option('--sign-with <key.pem>', 'another user key to sign with (repeatable)', collect, [])
      .option('--signature <file>', 'a signature file from cas policy sign (repeatable)', collect, []),
  ).action(
    casAction(
      run,
      async (
        file: string,
        flags: CasTargetFlags & { as: string; signWith: string[]; signature: string[] },
      ) => {
        const text = await readText(file, 'the policy');
        const client = await openClient(flags);
        try {
          const inForce = await policyInForce(client);
          const signatures: PolicySignature[] = [];
          for (const keyFile of [flags.as, ...flags.signWith]) {
            signatures.push(await signWith(keyFile, text, [inForce, tryParse(text)]));
          }
          for (const sigFile of flags.signature) signatures.push(await readSignatureFile(sigFile, text));
          const record = await client.applyPolicy(text, signatures);
          run.io.out(
            `applied policy "${record.name}" version ${record.version}\n  hash       ${record.hash}\n  signed by  ${record.signers.join(', ')}`,
          );
        } finally {
          client.close();
        }
        return 0;
      },
    ),
  );
  policy
    .command('sign')
    .description(
      'sign a policy offline (for updateThreshold > 1: collect signatures, then apply with --signature)',
    )
    .argument('<file>', 'the policy document')
    .requiredOption('--as <key.pem>', 'your user key')
    .requiredOption('--out <sig>', 'the signature file to write')
    .option('--user <name>', 'your user name in the policy in force (default: found by your key in FILE)')
    .option('--force', 'overwrite --out')
    .action(
      casAction(
        run,
        async (file: string, flags: { as: string; out: string; user?: string; force?: boolean }) => {
          const text = await readText(file, 'the policy');
          const sig = await signWith(flags.as, text, [tryParse(text)], flags.user);
          const out: SignatureFile = { ...sig, policyHash: policyHash(text) };
          await writePrivate(flags.out, `${JSON.stringify(out, null, 2)}\n`, flags.force === true);
          run.io.out(`signed ${file} (hash ${out.policyHash}) as "${sig.user}": ${flags.out}`);
          return 0;
        },
      ),
    );
  withTarget(
    policy
      .command('show')
      .description('print the policy in force')
      .requiredOption('--as <key.pem>', 'your user key'),
  ).action(
    casAction(run, async (flags: CasTargetFlags) => {
      const client = await openClient(flags);
      try {
        const { text } = await client.policy();
        run.io.out(text);
      } finally {
        client.close();
      }
      return 0;
    }),
  );
  withTarget(
    policy
      .command('history')
      .description('list every policy applied, oldest first')
      .requiredOption('--as <key.pem>', 'your user key')
      .option('--json', 'print JSON'),
  ).action(
    casAction(run, async (flags: CasTargetFlags & { json?: boolean }) => {
      const client = await openClient(flags);
      try {
        const history = await client.policyHistory();
        if (flags.json) run.io.out(JSON.stringify(history, null, 2));
        else {
          const rows = history.map((p): [string, string] => [
            `v${p.version}`,
            `${p.appliedAt}  ${p.name}  ${p.hash}  signed by ${p.signers.join(', ')}`,
          ]);
          run.io.out(rows.length === 0 ? 'no policy applied yet' : formatTable(rows));
        }
      } finally {
        client.close();
      }
      return 0;
    }),
  );
}

async function policyInForce(client: CasClient): Promise<Policy | null> {
  try {
    return tryParse((await client.policy()).text);
  } catch (err) {
    // No policy yet, or --as is not a user of it (then the new policy names the signer).
    if (isCasError(err, 'ERR_UNAUTHORIZED')) return null;
    throw err;
  }
}

function tryParse(text: string): Policy | null {
  try {
    return parsePolicy(text);
  } catch {
    return null;
  }
}

/** Signs `text` with a key file; the user name is found in the first policy that lists the key. */
async function signWith(
  keyFile: string,
  text: string,
  policies: readonly (Policy | null)[],
  name?: string,
): Promise<PolicySignature> {
  let key: ReturnType<typeof loadUserKey>;
  try {
    key = loadUserKey(await readText(keyFile, 'the user key'));
  } catch (err) {
    if (isCasError(err)) throw new UsageError(`${keyFile}: ${err.message}`);
    throw err;
  }
  let user = name;
  for (const p of policies) user ??= (p && findUserByPublicKey(p, key.publicKeySpki)) ?? undefined;
  user ??= /CN=([^\n,]+)/.exec(new X509Certificate(key.certificatePem).subject)?.[1];
  if (user === undefined) throw new UsageError(`${keyFile}: no policy lists this key; pass --user NAME`);
  return { user, signature: signPolicy(text, key.privateKey) };
}

async function readSignatureFile(path: string, text: string): Promise<PolicySignature> {
  let sig: Partial<SignatureFile>;
  try {
    sig = JSON.parse(await readText(path, 'the signature file'));
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`${path} is not a signature file from cas policy sign (not JSON)`);
  }
  if (typeof sig.user !== 'string' || typeof sig.signature !== 'string')
    throw new UsageError(`${path} is not a signature file from cas policy sign (needs user and signature)`);
  const hash = policyHash(text);
  if (sig.policyHash !== undefined && sig.policyHash !== hash)
    throw new UsageError(
      `${path} signs policy ${sig.policyHash}, not this file (${hash}): sign the final text again`,
    );
  return { user: sig.user, signature: sig.signature };
}
