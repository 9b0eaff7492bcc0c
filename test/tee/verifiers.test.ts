import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createDcapVerifier,
  createSimBackend,
  createSimVerifier,
  createSnpVerifier,
  decodeEvidenceFile,
  loadCollateralFiles,
} from '../../src/tee/index.ts';
import { runVerifierContract } from './verifier-contract.ts';

const V = new URL('../../../shared/vectors/', import.meta.url).pathname;
const load = async (p: string) => decodeEvidenceFile(await readFile(V + p), p);

async function simEvidence(): Promise<Uint8Array> {
  const backend = await createSimBackend({
    measurement: 'ab'.repeat(32),
    stateDir: join(tmpdir(), `sc-verifier-contract-${process.pid}`),
  });
  return backend.getEvidence(Buffer.alloc(64, 7));
}

/** Evidence of every format but `mine` (DCAP covers both SGX and TDX quotes). */
async function foreign(mine: 'sim' | 'dcap' | 'snp'): Promise<Uint8Array[]> {
  const all = {
    dcap: await load('dcap-qvl/sgx_quote'),
    snp: await load('virtee/report_milan.hex'),
    sim: await simEvidence(),
  };
  return Object.entries(all).flatMap(([k, v]) => (k === mine ? [] : [v]));
}

runVerifierContract('sim', async () => {
  const evidence = await simEvidence();
  return {
    verifier: createSimVerifier(),
    evidence,
    options: { at: new Date(), allowSimulation: true },
    signedOffset: 20,
    foreign: await foreign('sim'),
  };
});

runVerifierContract('dcap (SGX v3)', async () => {
  const evidence = await load('dcap-qvl/sgx_quote');
  return {
    verifier: createDcapVerifier(),
    evidence,
    options: {
      at: new Date('2025-06-20T00:00:00Z'),
      collateral: await loadCollateralFiles([`${V}dcap-qvl/sgx_quote_collateral.json`]),
      acceptTcb: ['ConfigurationAndSWHardeningNeeded'],
    },
    signedOffset: 48 + 64, // MRENCLAVE
    foreign: await foreign('dcap'),
  };
});

runVerifierContract('dcap (TDX v4)', async () => {
  const evidence = await load('dcap-qvl/tdx_quote');
  return {
    verifier: createDcapVerifier(),
    evidence,
    options: {
      at: new Date('2025-06-20T00:00:00Z'),
      collateral: await loadCollateralFiles([`${V}dcap-qvl/tdx_quote_collateral.json`]),
    },
    signedOffset: 48 + 136, // MRTD
    foreign: await foreign('dcap'),
  };
});

runVerifierContract('sev-snp', async () => {
  const evidence = await load('virtee/report_milan.hex');
  return {
    verifier: createSnpVerifier(),
    evidence,
    options: {
      at: new Date('2024-01-01T00:00:00Z'),
      collateral: await loadCollateralFiles([`${V}virtee/vcek_milan.der`]),
    },
    signedOffset: 0x90, // MEASUREMENT
    foreign: await foreign('snp'),
  };
});
