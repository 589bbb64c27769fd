// The ZETA OAM listener against a real OVS bridge, in process (no daemon): an injection becomes a
// direct path that OVS holds (injected twice: still one), its deletion comes back as a FLOW_REMOVED (reason delete) that the
// tracker counts; an injection OVS refuses (output to a port no switch has) is counted as failed,
// never as installed. The full path through `alcor-agent run`, with traffic, is zeta.e2e.test.ts.
import dgram from 'node:dgram';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeOam, type OamInjection } from '../core/zeta/oam';
import { requirePrereqs } from '../test/prereq';
import { OvsSandbox } from '../test/sandbox';
import { until } from './e2e-helpers';
import { OpenFlowSession, mgmtSocketPath } from './openflow/session';
import { SerialQueue } from './serial-queue';
import { ZetaOam } from './zeta-oam';
import { dumpDirectPathCookies } from './zeta-direct-paths';

const VNI = 1001;
/** Two OAM ports a test on this machine is unlikely to share (one listener each). */
const PORT_OK = 19000 + (process.pid % 500);
const PORT_BAD = PORT_OK + 500;
/** Above OFPP_MAX and not a reserved port: OVS refuses output to it (OFPBAC_BAD_OUT_PORT). */
const BAD_OFPORT = 0xfffffff0;
const INJECTION: OamInjection = {
  op: 'inject',
  srcIp: 0x0adb000b,
  dstIp: 0x0adb0062,
  srcPort: 0,
  dstPort: 0,
  proto: 1,
  vni: VNI,
  instIp: 0x0adb0063,
  instMac: 0x020000190063,
  nodeIp: 0xc0000233,
  nodeMac: 0x02000005e0051,
  idleTimeout: 60,
};

function send(bytes: Uint8Array, port: number): Promise<void> {
  const s = dgram.createSocket('udp4');
  return new Promise<void>((resolve, reject) =>
    s.send(bytes, port, '127.0.0.1', (e) => {
      s.close();
      if (e) reject(e);
      else resolve();
    }),
  );
}

if (requirePrereqs(['root', 'ovs'])) {
  test('real OVS: a direct path is installed with SEND_FLOW_REM and its removal counted; a refused one is failed', async () => {
    const sb = await OvsSandbox.start({ name: 'zoam' });
    const session = new OpenFlowSession({ socketPath: mgmtSocketPath(sb.rundir, 'br-int') });
    const oams: ZetaOam[] = [];
    try {
      session.start();
      await session.whenReady();
      const queue = new SerialQueue();
      const make = (tunnelOfport: number, port: number): ZetaOam => {
        const z = new ZetaOam({
          applyBundle: (id, deltas) => session.applyBundle(id, deltas),
          queue,
          tunnelOfport,
          dumpDirectPaths: () => dumpDirectPathCookies(session),
          log: () => undefined,
          address: '127.0.0.1',
        });
        session.on('flow_removed', (r) => z.paths.flowRemoved(r));
        z.setPorts([[VNI, port]]);
        oams.push(z);
        return z;
      };
      const good = make(1, PORT_OK);
      const bad = make(BAD_OFPORT, PORT_BAD);
      await until('both ports are bound', async () => good.ports.length === 1 && bad.ports.length === 1);

      await send(encodeOam(INJECTION), PORT_OK);
      await until('installed', async () => good.paths.report().installed === 1);
      const flows = (await sb.ofctl(['dump-flows', 'br-int', 'cookie=0xa1c1000000000000/0xffff000000000000'])).stdout;
      assert.match(flows, /send_flow_rem/);
      // The same path again replaces the flow: OVS sends no FLOW_REMOVED for it (it would arrive
      // before the bundle's barrier reply), so it is still one path installed.
      await send(encodeOam(INJECTION), PORT_OK);
      await until('injected twice', async () => good.outcomes.get('inject') === 2);
      assert.equal(good.paths.report(), { installed: 1, expired: 0, removed: {} });
      await send(encodeOam({ ...INJECTION, op: 'delete' }), PORT_OK);
      await until('the removal is counted', async () => good.paths.report().removed.delete === 1);
      assert.equal(good.paths.report(), { installed: 0, expired: 0, removed: { delete: 1 } });

      await send(encodeOam({ ...INJECTION, srcIp: 0x0adb000c }), PORT_BAD);
      await until('the refused injection is counted', async () => bad.outcomes.get('failed') === 1);
      assert.is(bad.outcomes.get('inject'), undefined);
      assert.is(bad.paths.report().installed, 0);
      assert.equal(await dumpDirectPathCookies(session), [], 'nothing of the refused bundle is in OVS');
    } finally {
      for (const z of oams) z.close();
      session.stop();
      await sb.stop();
    }
  });

  test.run();
}
