// Attestation verification throughput per vector, with and without cached collateral, against a
// baseline measured in the same run: the bare ECDSA signature verifications every quote needs.
// Prints JSON. Usage: npm run bench -- attest-verify [--seconds S]
import { createSign, generateKeyPairSync, verify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { freshKeyPair } from '../src/crypto/index.ts';
import {
  type Collateral,
  createDcapVerifier,
  createSnpVerifier,
  decodeEvidenceFile,
  type EvidenceVerifier,
  loadCollateralFiles,
} from '../src/tee/index.ts';

const VECTORS = fileURLToPath(new URL('../../shared/vectors/', import.meta.url));
const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 1;

interface Case {
  name: string;
  evidence: string;
  collateral: string[];
  at: string;
  make: (cache: boolean) => EvidenceVerifier;
  signatures: number;
  curve: 'P-256' | 'P-384';
}

const dcap = (cache: boolean) => createDcapVerifier({ cache });
const snp = () => createSnpVerifier();
const CASES: Case[] = [
  {
    name: 'sgx-v3 (dcap-qvl)',
    evidence: 'dcap-qvl/sgx_quote',
    collateral: ['dcap-qvl/sgx_quote_collateral.json'],
    at: '2025-06-20T00:00:00Z',
    make: dcap,
    signatures: 3,
    curve: 'P-256',
  },
  {
    name: 'tdx-v4 (dcap-qvl)',
    evidence: 'dcap-qvl/tdx_quote',
    collateral: ['dcap-qvl/tdx_quote_collateral.json'],
    at: '2025-06-20T00:00:00Z',
    make: dcap,
    signatures: 3,
    curve: 'P-256',
  },
  {
    name: 'sgx-v3 (occlum, no TCB collateral)',
    evidence: 'dstack-teekit/sgx-occlum.dat',
    collateral: [],
    at: '2025-06-01T00:00:00Z',
    make: dcap,
    signatures: 3,
    curve: 'P-256',
  },
  {
    name: 'sev-snp (virtee milan)',
    evidence: 'virtee/report_milan.hex',
    collateral: ['virtee/vcek_milan.der'],
    at: '2024-01-01T00:00:00Z',
    make: snp,
    signatures: 1,
    curve: 'P-384',
  },
];

async function rate(fn: () => Promise<unknown>): Promise<{ perSecond: number; msPer: number; runs: number }> {
  for (let i = 0; i < 20; i++) await fn();
  const end = performance.now() + seconds * 1000;
  const start = performance.now();
  let runs = 0;
  while (performance.now() < end) {
    await fn();
    runs++;
  }
  const ms = (performance.now() - start) / runs;
  return { perSecond: Math.round(1000 / ms), msPer: Number(ms.toFixed(4)), runs };
}

/** The floor: `n` ECDSA verifications on the curve, the work no verifier can skip. */
async function baseline(n: number, curve: 'P-256' | 'P-384') {
  // freshKeyPair has no P-384; these keys are never exported, so the export deadlock cannot occur.
  const { privateKey, publicKey } =
    curve === 'P-256' ? freshKeyPair('p256') : generateKeyPairSync('ec', { namedCurve: 'P-384' });
  const data = Buffer.alloc(432, 7);
  const hash = curve === 'P-256' ? 'sha256' : 'sha384';
  const sig = createSign(hash).update(data).sign(privateKey);
  return rate(async () => {
    for (let i = 0; i < n; i++) if (!verify(hash, data, publicKey, sig)) throw new Error('baseline');
  });
}

async function main(): Promise<void> {
  const results = [];
  for (const c of CASES) {
    const evidence = decodeEvidenceFile(await readFile(VECTORS + c.evidence), c.evidence);
    const collateral: Collateral = await loadCollateralFiles(c.collateral.map((f) => VECTORS + f));
    const options = {
      at: new Date(c.at),
      collateral,
      acceptTcb: ['UpToDate', 'SWHardeningNeeded', 'ConfigurationAndSWHardeningNeeded'] as const,
    };
    const cachedVerifier = c.make(true);
    const first = await cachedVerifier.verify(evidence, options);
    if (!first.genuine) throw new Error(`${c.name}: not genuine: ${first.refusal?.message}`);
    const cached = await rate(() => cachedVerifier.verify(evidence, options));
    const uncachedVerifier = c.make(false);
    const uncached = await rate(() => uncachedVerifier.verify(evidence, options));
    const floor = await baseline(c.signatures, c.curve);
    results.push({
      vector: c.name,
      cached,
      uncached,
      baselineSignatureChecks: { signatures: c.signatures, curve: c.curve, ...floor },
      cachedOverBaseline: Number((cached.msPer / floor.msPer).toFixed(2)),
      uncachedOverCached: Number((uncached.msPer / cached.msPer).toFixed(2)),
      goalMsPerQuoteCached: 1,
      meetsGoal: cached.msPer <= 1,
    });
  }
  process.stdout.write(
    `${JSON.stringify({ benchmark: 'attest-verify', node: process.version, seconds, results }, null, 2)}\n`,
  );
}

await main();
