import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyCollateralFile, mergeDcapCollateral } from '../../src/tee/dcap/collateral-file.ts';
import { rawJsonMember } from '../../src/tee/dcap/raw-json.ts';
import { vector } from './dcap-test-vectors.ts';

const classify = (path: string) => classifyCollateralFile(vector(path), path);
const keys = (o: object) => Object.keys(o).sort();

describe('unit: DCAP collateral files', () => {
  it('reads every part of the dcap-qvl combined JSON, with hex CRLs and signatures decoded', () => {
    const c = classify('dcap-qvl/sgx_quote_collateral.json');
    assert.deepEqual(keys(c), [
      'pckCrl',
      'pckCrlIssuerChain',
      'qeIdentity',
      'qeIdentityIssuerChain',
      'qeIdentitySignature',
      'rootCaCrl',
      'tcbInfo',
      'tcbInfoIssuerChain',
      'tcbInfoSignature',
    ]);
    assert.equal(c.tcbInfoSignature?.length, 64);
    assert.equal(c.pckCrl?.[0], 0x30);
    assert.ok(c.tcbInfo?.startsWith('{"id":"SGX"'));
  });

  it('keeps the exact signed text of a raw Intel PCS body', () => {
    const body = vector('go-tdx-guest/sample_tcbInfo_response').toString();
    const c = classify('go-tdx-guest/sample_tcbInfo_response');
    assert.deepEqual(keys(c), ['tcbInfo', 'tcbInfoSignature']);
    assert.ok(body.includes(`{"tcbInfo":${c.tcbInfo},"signature"`));
    assert.deepEqual(keys(classify('go-tdx-guest/sample_qeIdentity_response')), [
      'qeIdentity',
      'qeIdentitySignature',
    ]);
  });

  it('classifies PEM issuer chains by their first certificate', () => {
    assert.deepEqual(keys(classify('go-tdx-guest/tcbInfoIssuerChain.pem')), [
      'qeIdentityIssuerChain',
      'tcbInfoIssuerChain',
    ]);
    assert.deepEqual(keys(classify('go-tdx-guest/pckCrlIssuerChain.pem')), ['pckCrlIssuerChain']);
  });

  it('classifies DER, PEM and hex CRLs by their issuer', () => {
    assert.deepEqual(keys(classify('go-tdx-guest/rootcrl.der')), ['rootCaCrl']);
    assert.deepEqual(keys(classify('go-tdx-guest/pckcrl')), ['pckCrl']);
    assert.deepEqual(keys(classify('mobilecoin/processor_crl.der')), ['pckCrl']);
    const der = vector('mobilecoin/root_crl.der');
    assert.deepEqual(classifyCollateralFile(Buffer.from(der.toString('hex'))).rootCaCrl, der);
    const pem = `-----BEGIN X509 CRL-----\n${der.toString('base64')}\n-----END X509 CRL-----\n`;
    assert.deepEqual(classifyCollateralFile(Buffer.from(pem)).rootCaCrl, der);
  });

  it('refuses files that are not DCAP collateral with ERR_COLLATERAL_MALFORMED', () => {
    for (const bytes of [
      vector('mobilecoin/leaf_cert.der'),
      Buffer.from('{"hello":1}'),
      Buffer.from('{not json'),
      Buffer.alloc(0),
      Buffer.from('random text'),
      vector('dcap-qvl/sgx_quote'),
    ]) {
      assert.throws(() => classifyCollateralFile(bytes, 'f'), { code: 'ERR_COLLATERAL_MALFORMED' });
    }
    assert.throws(() => classifyCollateralFile(Buffer.from('{"tcbInfo":{"id":"SGX"},"signature":"zz"}')), {
      code: 'ERR_COLLATERAL_MALFORMED',
    });
    assert.throws(() => classifyCollateralFile(Buffer.from('{"tcb_info":{"id":"SGX"}}')), {
      code: 'ERR_COLLATERAL_MALFORMED',
    });
  });

  it('merges parts and refuses two different values for one part', () => {
    const merged = mergeDcapCollateral([
      classify('go-tdx-guest/rootcrl.der'),
      classify('go-tdx-guest/pckcrl'),
      classify('go-tdx-guest/rootcrl.der'),
    ]);
    assert.deepEqual(keys(merged), ['pckCrl', 'rootCaCrl']);
    assert.throws(
      () => mergeDcapCollateral([classify('go-tdx-guest/pckcrl'), classify('mobilecoin/processor_crl.der')]),
      { code: 'ERR_COLLATERAL_MALFORMED' },
    );
  });

  it('extracts a top-level JSON member as written, whatever the spacing, escapes and nesting', () => {
    const text = ' { "a" : "x\\"}{" , "tcbInfo" :  {"b":[1,{"c":"]"}],"d":null} , "signature":"00" } ';
    assert.equal(rawJsonMember(text, 'tcbInfo'), '{"b":[1,{"c":"]"}],"d":null}');
    assert.equal(rawJsonMember(text, 'a'), '"x\\"}{"');
    assert.equal(rawJsonMember(text, 'missing'), null);
    assert.equal(rawJsonMember('{"inner":{"tcbInfo":1}}', 'tcbInfo'), null);
  });
});
