import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { PckExtensions } from '../../src/tee/dcap/pck-extensions.ts';
import { parseQeIdentity } from '../../src/tee/dcap/qe-identity.ts';
import { parseQuote, type TdReportBody } from '../../src/tee/dcap/quote.ts';
import { parseTcbInfo, type TcbLevelStatus } from '../../src/tee/dcap/tcb-info.ts';
import {
  checkTdxModule,
  convergeTcbStatus,
  finalTcbVerdict,
  matchPlatformTcbLevel,
  matchQeTcbLevel,
} from '../../src/tee/dcap/tcb-level.ts';
import { vector } from './dcap-test-vectors.ts';

const comps = (values: number[]) =>
  JSON.stringify([...values, ...Array(16 - values.length).fill(0)].map((svn) => ({ svn })));

function level(
  sgx: number[],
  pcesvn: number,
  status: string,
  tdx?: number[],
  advisories: string[] = [],
): string {
  const tdxPart = tdx ? `,"tdxtcbcomponents":${comps(tdx)}` : '';
  return `{"tcb":{"sgxtcbcomponents":${comps(sgx)},"pcesvn":${pcesvn}${tdxPart}},"tcbDate":"2024-01-01T00:00:00Z","tcbStatus":"${status}","advisoryIDs":${JSON.stringify(advisories)}}`;
}

const MODULE = `"tdxModule":{"mrsigner":"${'0'.repeat(96)}","attributes":"0000000000000000","attributesMask":"FFFFFFFFFFFFFFFF"}`;
const IDENTITIES = `"tdxModuleIdentities":[{"id":"TDX_01","mrsigner":"${'0'.repeat(96)}","attributes":"0000000000000000","attributesMask":"FFFFFFFFFFFFFFFF","tcbLevels":[{"tcb":{"isvsvn":6},"tcbDate":"2024-01-01T00:00:00Z","tcbStatus":"UpToDate"},{"tcb":{"isvsvn":2},"tcbDate":"2023-01-01T00:00:00Z","tcbStatus":"OutOfDate","advisoryIDs":["INTEL-SA-01036"]}]}]`;

function tcbInfo(id: 'SGX' | 'TDX', levels: string[]): string {
  const tdx = id === 'TDX' ? `${MODULE},${IDENTITIES},` : '';
  return `{"id":"${id}","version":3,"issueDate":"2025-01-01T00:00:00Z","nextUpdate":"2025-02-01T00:00:00Z","fmspc":"00A067110000","pceId":"0000","tcbType":0,"tcbEvaluationDataNumber":17,${tdx}"tcbLevels":[${levels.join(',')}]}`;
}

function pck(components: number[], pceSvn: number): PckExtensions {
  const c = [...components, ...Array(16 - components.length).fill(0)];
  return {
    ppid: '',
    cpuSvnComponents: c,
    pceSvn,
    cpuSvn: '',
    pceId: '0000',
    fmspc: '00a067110000',
    sgxType: 0,
  };
}

const TDX_QUOTE = parseQuote(vector('dcap-qvl/tdx_quote'));

function tdReport(teeTcbSvn: number[], mrSignerSeam = Buffer.alloc(48)): TdReportBody {
  const svn = Buffer.alloc(16);
  Buffer.from(teeTcbSvn).copy(svn);
  return { ...TDX_QUOTE.td!, teeTcbSvn: svn, mrSignerSeam };
}

const SGX_INFO = parseTcbInfo(
  tcbInfo('SGX', [
    level([5, 5, 2], 13, 'UpToDate'),
    level([5, 5, 2], 11, 'SWHardeningNeeded', undefined, ['SA-1']),
    level([3, 3], 11, 'OutOfDate', undefined, ['SA-2', 'SA-1']),
  ]),
);

describe('unit: DCAP TCB level matching', () => {
  it('selects the first level whose components and PCESVN are all at most the platform ones', () => {
    assert.equal(matchPlatformTcbLevel(SGX_INFO, pck([5, 5, 2], 13), null).status, 'UpToDate');
    assert.equal(matchPlatformTcbLevel(SGX_INFO, pck([9, 9, 9], 12), null).status, 'SWHardeningNeeded');
    assert.equal(matchPlatformTcbLevel(SGX_INFO, pck([5, 4, 2], 13), null).status, 'OutOfDate');
  });

  it('compares every component, not the CPUSVN as one number', () => {
    // 6,3 is "greater" than 5,5 lexicographically, but component 2 is lower than the first two levels.
    assert.equal(matchPlatformTcbLevel(SGX_INFO, pck([6, 3, 2], 13), null).status, 'OutOfDate');
  });

  it('refuses a platform below every level with ERR_TCB_LEVEL_NOT_FOUND', () => {
    assert.throws(() => matchPlatformTcbLevel(SGX_INFO, pck([2, 9, 9], 13), null), {
      code: 'ERR_TCB_LEVEL_NOT_FOUND',
    });
    assert.throws(() => matchPlatformTcbLevel(SGX_INFO, pck([9, 9, 9], 10), null), {
      code: 'ERR_TCB_LEVEL_NOT_FOUND',
    });
  });

  it('matches TDX levels on TEE_TCB_SVN too, skipping the module components when the module version is not 0', () => {
    const info = parseTcbInfo(
      tcbInfo('TDX', [level([2], 11, 'UpToDate', [9, 9, 3]), level([2], 11, 'OutOfDate', [0, 0, 2])]),
    );
    assert.equal(matchPlatformTcbLevel(info, pck([2], 11), tdReport([1, 1, 3])).status, 'UpToDate');
    assert.equal(matchPlatformTcbLevel(info, pck([2], 11), tdReport([1, 0, 3])).status, 'OutOfDate');
    assert.equal(matchPlatformTcbLevel(info, pck([2], 11), tdReport([1, 1, 2])).status, 'OutOfDate');
    assert.throws(() => matchPlatformTcbLevel(info, pck([2], 11), tdReport([1, 1, 1])), {
      code: 'ERR_TCB_LEVEL_NOT_FOUND',
    });
  });

  it('checks the TDX module identity and selects its TCB level by the module ISVSVN', () => {
    const info = parseTcbInfo(tcbInfo('TDX', [level([2], 11, 'UpToDate', [0, 0, 3])]));
    assert.equal(
      checkTdxModule(info, TDX_QUOTE, tdReport([0, 0, 3])),
      null,
      'module version 0 uses tdxModule only',
    );
    assert.equal(checkTdxModule(info, TDX_QUOTE, tdReport([7, 1, 3]))?.status, 'UpToDate');
    assert.deepEqual(checkTdxModule(info, TDX_QUOTE, tdReport([3, 1, 3]))?.advisories, ['INTEL-SA-01036']);
    assert.throws(() => checkTdxModule(info, TDX_QUOTE, tdReport([1, 1, 3])), {
      code: 'ERR_TCB_LEVEL_NOT_FOUND',
    });
    assert.throws(() => checkTdxModule(info, TDX_QUOTE, tdReport([6, 3, 3])), {
      code: 'ERR_TDX_MODULE_IDENTITY',
    });
    assert.throws(() => checkTdxModule(info, TDX_QUOTE, tdReport([6, 1, 3], Buffer.alloc(48, 1))), {
      code: 'ERR_TDX_MODULE_IDENTITY',
    });
  });

  it('selects the QE TCB level by ISVSVN', () => {
    const identity = parseQeIdentity(
      '{"id":"QE","version":2,"issueDate":"2025-01-01T00:00:00Z","nextUpdate":"2025-02-01T00:00:00Z","miscselect":"00000000","miscselectMask":"FFFFFFFF","attributes":"11000000000000000000000000000000","attributesMask":"FBFFFFFFFFFFFFFF0000000000000000","mrsigner":"8C4F5775D796503E96137F77C68A829A0056AC8DED70140B081B094490C57BFF","isvprodid":1,"tcbLevels":[{"tcb":{"isvsvn":8},"tcbDate":"2024-03-13T00:00:00Z","tcbStatus":"UpToDate"},{"tcb":{"isvsvn":6},"tcbDate":"2021-11-10T00:00:00Z","tcbStatus":"OutOfDate","advisoryIDs":["INTEL-SA-00615"]}]}',
    );
    assert.equal(matchQeTcbLevel(identity, 10).status, 'UpToDate');
    assert.equal(matchQeTcbLevel(identity, 7).status, 'OutOfDate');
    assert.throws(() => matchQeTcbLevel(identity, 5), { code: 'ERR_TCB_LEVEL_NOT_FOUND' });
  });
});

describe('unit: DCAP TCB status convergence', () => {
  it('combines platform and component statuses as Intel QVL does', () => {
    const table: [TcbLevelStatus, TcbLevelStatus | null, TcbLevelStatus][] = [
      ['UpToDate', null, 'UpToDate'],
      ['UpToDate', 'UpToDate', 'UpToDate'],
      ['UpToDate', 'OutOfDate', 'OutOfDate'],
      ['SWHardeningNeeded', 'OutOfDate', 'OutOfDate'],
      ['ConfigurationNeeded', 'OutOfDate', 'OutOfDateConfigurationNeeded'],
      ['ConfigurationAndSWHardeningNeeded', 'OutOfDate', 'OutOfDateConfigurationNeeded'],
      ['OutOfDate', 'OutOfDate', 'OutOfDate'],
      ['ConfigurationNeeded', 'Revoked', 'Revoked'],
      ['Revoked', 'UpToDate', 'Revoked'],
    ];
    for (const [platform, component, expected] of table)
      assert.equal(convergeTcbStatus(platform, component), expected, `${platform} + ${component}`);
  });

  it('gives the union of the advisories, sorted and de-duplicated', () => {
    const platform = matchPlatformTcbLevel(SGX_INFO, pck([5, 4, 2], 13), null);
    const qe = { isvSvn: 1, status: 'SWHardeningNeeded' as const, advisories: ['SA-3', 'SA-1'] };
    assert.deepEqual(finalTcbVerdict(platform, null, qe), {
      tcbStatus: 'OutOfDate',
      advisories: ['SA-1', 'SA-2', 'SA-3'],
    });
  });

  it('refuses unknown statuses and malformed TCB Info with ERR_COLLATERAL_MALFORMED', () => {
    assert.throws(() => parseTcbInfo(tcbInfo('SGX', [level([1], 1, 'Fine')])), {
      code: 'ERR_COLLATERAL_MALFORMED',
    });
    assert.throws(() => parseTcbInfo('{"version":4}'), { code: 'ERR_COLLATERAL_MALFORMED' });
    assert.throws(() => parseTcbInfo('[]'), { code: 'ERR_COLLATERAL_MALFORMED' });
    assert.throws(() => parseTcbInfo(tcbInfo('TDX', [level([1], 1, 'UpToDate')])), {
      code: 'ERR_COLLATERAL_MALFORMED',
    });
  });

  it('reads TCB Info version 2 with its sgxtcbcompNNsvn fields', () => {
    const tcb = Object.fromEntries(
      Array.from({ length: 16 }, (_, i) => [
        `sgxtcbcomp${String(i + 1).padStart(2, '0')}svn`,
        i === 0 ? 4 : 0,
      ]),
    );
    const text = JSON.stringify({
      version: 2,
      issueDate: '2020-01-01T00:00:00Z',
      nextUpdate: '2020-02-01T00:00:00Z',
      fmspc: '00906ED50000',
      pceId: '0000',
      tcbType: 0,
      tcbLevels: [{ tcb: { ...tcb, pcesvn: 10 }, tcbDate: '2020-01-01T00:00:00Z', tcbStatus: 'UpToDate' }],
    });
    const info = parseTcbInfo(text);
    assert.deepEqual(
      [info.id, info.version, info.tcbLevels[0]!.sgxComponents[0], info.fmspc],
      ['SGX', 2, 4, '00906ed50000'],
    );
  });
});
