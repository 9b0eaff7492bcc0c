/**
 * AMD SEV-SNP product lines whose VCEK layout and AMD roots this verifier knows. The TCB_VERSION
 * layout differs between them (Turin adds an FMC component and moves the others).
 */
export type SnpProduct = 'Milan' | 'Genoa' | 'Turin';

/** Every supported product line, in a stable order. */
export const SNP_PRODUCTS = ['Milan', 'Genoa', 'Turin'] as const satisfies readonly SnpProduct[];

/** True when `value` names a supported product line. */
export function isSnpProduct(value: string): value is SnpProduct {
  return (SNP_PRODUCTS as readonly string[]).includes(value);
}

/** The SPL components of a TCB_VERSION. */
export type SnpTcbComponent = 'fmc' | 'bootloader' | 'tee' | 'snp' | 'microcode';

/** Byte offsets of each component inside the little-endian TCB_VERSION u64 (null: absent). */
export interface SnpTcbLayout {
  readonly fmc: number | null;
  readonly bootloader: number;
  readonly tee: number;
  readonly snp: number;
  readonly microcode: number;
}

/**
 * TCB_VERSION layouts per product (SEV-SNP ABI spec, "TCB_VERSION Structure"): Milan and Genoa put
 * the boot loader in byte 0, TEE in 1, bytes 2-5 reserved, SNP in 6, microcode in 7; Turin puts FMC
 * in byte 0, boot loader in 1, TEE in 2, SNP in 3, bytes 4-6 reserved, microcode in 7.
 */
export const SNP_TCB_LAYOUTS: Readonly<Record<SnpProduct, SnpTcbLayout>> = {
  Milan: { fmc: null, bootloader: 0, tee: 1, snp: 6, microcode: 7 },
  Genoa: { fmc: null, bootloader: 0, tee: 1, snp: 6, microcode: 7 },
  Turin: { fmc: 0, bootloader: 1, tee: 2, snp: 3, microcode: 7 },
};

/** A decoded TCB_VERSION. `fmc` is null for products without an FMC component. */
export interface SnpTcb {
  readonly raw: bigint;
  readonly fmc: number | null;
  readonly bootloader: number;
  readonly tee: number;
  readonly snp: number;
  readonly microcode: number;
}

function byteAt(raw: bigint, index: number): number {
  return Number((raw >> BigInt(index * 8)) & 0xffn);
}

/** Decodes a TCB_VERSION u64 with the layout of `product`. */
export function decodeSnpTcb(raw: bigint, product: SnpProduct): SnpTcb {
  const layout = SNP_TCB_LAYOUTS[product];
  return {
    raw,
    fmc: layout.fmc === null ? null : byteAt(raw, layout.fmc),
    bootloader: byteAt(raw, layout.bootloader),
    tee: byteAt(raw, layout.tee),
    snp: byteAt(raw, layout.snp),
    microcode: byteAt(raw, layout.microcode),
  };
}

/** Short text of a TCB, e.g. `bl=3 tee=0 snp=8 ucode=115` (with `fmc=` first on Turin). */
export function formatSnpTcb(tcb: Omit<SnpTcb, 'raw'>): string {
  const fmc = tcb.fmc === null ? '' : `fmc=${tcb.fmc} `;
  return `${fmc}bl=${tcb.bootloader} tee=${tcb.tee} snp=${tcb.snp} ucode=${tcb.microcode}`;
}

/**
 * The product line named by the CPUID family and model that report versions 3 and later carry
 * (extended family and model, as the ABI spec defines them); null when unknown (or zero, as in
 * version 2 reports).
 */
export function snpProductFromCpuid(family: number, model: number): SnpProduct | null {
  if (family === 0x19) {
    if (model <= 0x0f) return 'Milan';
    if (model <= 0x1f || (model >= 0xa0 && model <= 0xaf)) return 'Genoa';
    return null;
  }
  if (family === 0x1a && model <= 0x1f) return 'Turin';
  return null;
}
