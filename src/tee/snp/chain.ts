import { X509Certificate } from 'node:crypto';
import { TeeError } from '../errors.ts';
import type { SnpCollateral } from '../types.ts';
import { AMD_ROOTS, certificateSha256, embeddedAmdChain } from './amd-roots.ts';
import { type CertInfo, readCertInfo } from './cert-info.ts';
import type { SnpVek } from './vcek.ts';

/** A CA certificate of the AMD chain (ASK/ASVK or ARK) and where it came from. */
export interface AmdCaCert {
  readonly der: Buffer;
  readonly cert: X509Certificate;
  readonly info: CertInfo;
  readonly source: 'collateral' | 'embedded';
}

/** The AMD chain of a VCEK/VLEK: VEK ← ASK (or ASVK) ← ARK. */
export interface SnpChain {
  readonly vek: SnpVek;
  readonly ask: AmdCaCert;
  readonly ark: AmdCaCert;
}

function loadCa(der: Uint8Array, role: 'ASK' | 'ARK', source: AmdCaCert['source']): AmdCaCert {
  const buf = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  const info = readCertInfo(buf, role);
  try {
    return { der: buf, cert: new X509Certificate(buf), info, source };
  } catch (err) {
    throw new TeeError(
      'ERR_COLLATERAL_MALFORMED',
      `the ${role} is not a DER X.509 certificate`,
      {
        check: `${role.toLowerCase()}-parse`,
      },
      { cause: err },
    );
  }
}

/** Supplies the embedded AMD CA certificates of a product (see {@link createEmbeddedAmdCas}). */
export type EmbeddedAmdCas = (
  product: SnpVek['product'],
  kind: SnpVek['kind'],
) => { ask: AmdCaCert; ark: AmdCaCert };

/**
 * The embedded ASK/ASVK and ARK of each product, parsed once per returned function (a verifier
 * keeps one, so repeated verifications do not re-parse the PEM text).
 */
export function createEmbeddedAmdCas(): EmbeddedAmdCas {
  const cache = new Map<string, { ask: AmdCaCert; ark: AmdCaCert }>();
  return (product, kind) => {
    const key = `${product}/${kind}`;
    let cas = cache.get(key);
    if (!cas) {
      const embedded = embeddedAmdChain(product, kind);
      cas = { ask: loadCa(embedded.ask, 'ASK', 'embedded'), ark: loadCa(embedded.ark, 'ARK', 'embedded') };
      cache.set(key, cas);
    }
    return cas;
  };
}

/**
 * Assembles the chain of `vek`: the ASK and ARK from the collateral when given, else the AMD
 * certificates embedded for the VEK's product (the ASVK for a VLEK). Parses only; checks come later.
 */
export function assembleSnpChain(
  vek: SnpVek,
  collateral: SnpCollateral = {},
  embedded: EmbeddedAmdCas = createEmbeddedAmdCas(),
): SnpChain {
  const fallback = collateral.ask && collateral.ark ? null : embedded(vek.product, vek.kind);
  return {
    vek,
    ask: collateral.ask ? loadCa(collateral.ask, 'ASK', 'collateral') : fallback!.ask,
    ark: collateral.ark ? loadCa(collateral.ark, 'ARK', 'collateral') : fallback!.ark,
  };
}

/** The ASK must belong to the VEK's product: `SEV-{product}` for a VCEK, `SEV-VLEK-{product}` for a VLEK. */
export function checkAskProduct(chain: SnpChain): void {
  const expected = chain.vek.kind === 'vcek' ? `SEV-${chain.vek.product}` : `SEV-VLEK-${chain.vek.product}`;
  if (chain.ask.info.subjectCn !== expected) {
    throw new TeeError(
      'ERR_COLLATERAL_MISMATCH',
      `the ASK ${JSON.stringify(chain.ask.info.subjectCn)} is not the ${chain.vek.product} ${chain.vek.kind === 'vcek' ? 'ASK' : 'ASVK'} that issues this ${chain.vek.kind.toUpperCase()} (${chain.vek.productName}); supply the right ASK or none (the embedded one is used)`,
      { check: 'ask-product', value: chain.ask.info.subjectCn, expected },
    );
  }
}

/** The ARK must be the pinned ARK of the VEK's product (SHA-256 of its DER). */
export function checkArkPin(chain: SnpChain): void {
  const roots = AMD_ROOTS[chain.vek.product];
  const found = certificateSha256(chain.ark.der);
  if (found !== roots.arkSha256) {
    throw new TeeError(
      'ERR_CERT_ROOT',
      `the ARK ${JSON.stringify(chain.ark.info.subjectCn)} (${chain.ark.source}) is not the pinned AMD ARK-${roots.product}: a chain that ends anywhere else proves nothing`,
      { check: 'ark-pin', value: `sha256:${found}`, expected: `sha256:${roots.arkSha256}` },
    );
  }
}

function signedBy(child: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return child.checkIssued(issuer) && child.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function chainError(message: string, check: string, value: string, expected: string): TeeError {
  return new TeeError('ERR_CERT_CHAIN', message, { check, value, expected });
}

/**
 * Checks the signatures of the chain (RSASSA-PSS SHA-384 for AMD's CA certificates, verified by
 * OpenSSL): ARK self-signed, ASK signed by the ARK and a CA, VEK signed by the ASK.
 */
export function checkChainSignatures(chain: SnpChain): void {
  const { vek, ask, ark } = chain;
  if (!ark.cert.ca || !signedBy(ark.cert, ark.cert)) {
    throw chainError(
      'the ARK is not a self-signed CA certificate',
      'ark-signature',
      ark.info.subjectCn,
      'self-signed',
    );
  }
  if (!ask.cert.ca || !signedBy(ask.cert, ark.cert)) {
    throw chainError(
      `the ASK ${JSON.stringify(ask.info.subjectCn)} is not a CA certificate signed by ${ark.info.subjectCn}`,
      'ask-signature',
      `issuer ${ask.info.issuerCn}`,
      `signed by ${ark.info.subjectCn}`,
    );
  }
  if (!signedBy(vek.cert, ask.cert)) {
    throw chainError(
      `the ${vek.kind.toUpperCase()} is not signed by ${ask.info.subjectCn}`,
      'vcek-signature',
      `issuer ${vek.info.issuerCn}`,
      `signed by ${ask.info.subjectCn}`,
    );
  }
}

/** Every certificate of the chain must be valid at `at`. */
export function checkChainValidity(chain: SnpChain, at: Date): void {
  const certs: readonly (readonly [string, CertInfo])[] = [
    [chain.vek.kind.toUpperCase(), chain.vek.info],
    ['ASK', chain.ask.info],
    ['ARK', chain.ark.info],
  ];
  for (const [role, info] of certs) {
    if (at < info.notBefore || at > info.notAfter) {
      throw new TeeError(
        'ERR_CERT_VALIDITY',
        `the ${role} ${JSON.stringify(info.subjectCn)} is not valid at ${at.toISOString()}`,
        {
          check: 'cert-validity',
          value: at.toISOString(),
          expected: `${info.notBefore.toISOString()}..${info.notAfter.toISOString()}`,
        },
      );
    }
  }
}
