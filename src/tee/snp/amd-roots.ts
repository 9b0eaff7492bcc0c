import { createHash, X509Certificate } from 'node:crypto';
import {
  GENOA_ARK_PEM,
  GENOA_ASK_PEM,
  GENOA_ASVK_PEM,
  MILAN_ARK_PEM,
  MILAN_ASK_PEM,
  MILAN_ASVK_PEM,
  TURIN_ARK_PEM,
  TURIN_ASK_PEM,
  TURIN_ASVK_PEM,
} from './amd-certs.ts';
import type { SnpProduct } from './tcb.ts';

/** The AMD trust anchors of one product line. */
export interface AmdRoots {
  readonly product: SnpProduct;
  /**
   * The pin: SHA-256 (lower-case hex) of the DER of the product's ARK certificate. A chain is
   * accepted only when it ends in a certificate with exactly this hash.
   */
  readonly arkSha256: string;
  /** ARK-{product}, PEM. */
  readonly arkPem: string;
  /** SEV-{product} (ASK, issuer of VCEKs), PEM. */
  readonly askPem: string;
  /** SEV-VLEK-{product} (ASVK, issuer of VLEKs), PEM. */
  readonly asvkPem: string;
}

/**
 * Pinned AMD Root Keys per product line, with the public AMD certificates embedded so that a
 * verifier needs only the VCEK as collateral. The pins are SHA-256 of the ARK certificate DER
 * (not of its SPKI): AMD has never re-issued an ARK, and pinning the whole certificate also pins
 * its validity window and extensions.
 */
export const AMD_ROOTS: Readonly<Record<SnpProduct, AmdRoots>> = {
  Milan: {
    product: 'Milan',
    arkSha256: '69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd',
    arkPem: MILAN_ARK_PEM,
    askPem: MILAN_ASK_PEM,
    asvkPem: MILAN_ASVK_PEM,
  },
  Genoa: {
    product: 'Genoa',
    arkSha256: '4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1',
    arkPem: GENOA_ARK_PEM,
    askPem: GENOA_ASK_PEM,
    asvkPem: GENOA_ASVK_PEM,
  },
  Turin: {
    product: 'Turin',
    arkSha256: '1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a',
    arkPem: TURIN_ARK_PEM,
    askPem: TURIN_ASK_PEM,
    asvkPem: TURIN_ASVK_PEM,
  },
};

/** SHA-256 (hex) of a certificate's DER, the form of {@link AmdRoots.arkSha256}. */
export function certificateSha256(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('hex');
}

/** True when `der` is exactly the pinned ARK of `product`. */
export function isPinnedArk(product: SnpProduct, der: Uint8Array): boolean {
  return certificateSha256(der) === AMD_ROOTS[product].arkSha256;
}

/** The embedded ASK (for a VCEK) or ASVK (for a VLEK) and ARK of `product`, as DER. */
export function embeddedAmdChain(product: SnpProduct, kind: 'vcek' | 'vlek'): { ask: Buffer; ark: Buffer } {
  const roots = AMD_ROOTS[product];
  return {
    ask: new X509Certificate(kind === 'vcek' ? roots.askPem : roots.asvkPem).raw,
    ark: new X509Certificate(roots.arkPem).raw,
  };
}
