/**
 * SHA-256 of the DER of the Intel SGX Root CA certificate (CN=Intel SGX Root CA, valid
 * 2018-05-21..2049-12-31), the only trust anchor of Intel DCAP: every PCK chain, CRL and collateral
 * signing chain must end in it.
 */
export const INTEL_SGX_ROOT_CA_SHA256 = '44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3';

/** The roots a DCAP verifier trusts by default. */
export const DEFAULT_DCAP_ROOTS: readonly string[] = [INTEL_SGX_ROOT_CA_SHA256];
