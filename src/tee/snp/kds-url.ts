import { toHex } from '../bytes.ts';
import type { SnpProduct, SnpTcb } from './tcb.ts';

/** AMD Key Distribution Service, where VCEKs and the ASK/ARK chains are published. */
export const AMD_KDS_BASE = 'https://kdsintf.amd.com';

function spl(n: number): string {
  return String(n).padStart(2, '0');
}

/**
 * The AMD KDS URL of the VCEK for a chip and a reported TCB, e.g.
 * `https://kdsintf.amd.com/vcek/v1/Milan/{hwid}?blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115`. Turin
 * VCEKs are indexed by the first 8 bytes of the chip id and take an `fmcSPL` too.
 */
export function kdsVcekUrl(product: SnpProduct, chipId: Uint8Array, tcb: Omit<SnpTcb, 'raw'>): string {
  const hwid = toHex(product === 'Turin' ? chipId.subarray(0, 8) : chipId);
  const fmc = tcb.fmc === null ? '' : `fmcSPL=${spl(tcb.fmc)}&`;
  const query = `${fmc}blSPL=${spl(tcb.bootloader)}&teeSPL=${spl(tcb.tee)}&snpSPL=${spl(tcb.snp)}&ucodeSPL=${spl(tcb.microcode)}`;
  return `${AMD_KDS_BASE}/vcek/v1/${product}/${hwid}?${query}`;
}

/** The AMD KDS URL of the ASK+ARK chain (PEM) of a product. */
export function kdsCertChainUrl(product: SnpProduct, kind: 'vcek' | 'vlek' = 'vcek'): string {
  return `${AMD_KDS_BASE}/${kind}/v1/${product}/cert_chain`;
}
