// The hosts of the VM scenario, the same for our run and OVN's: H sandboxed OVS hosts on one underlay (each
// linked to every earlier one: br-phy is split horizon, so a full mesh), then VM i plugged on host i % H, the
// hosts in parallel (each host's ovs-vsctl add-ports in turn).
import { OvsSandbox, type Vm, type VmOptions } from '../../test/sandbox';
import { hostUnderlay } from './vm-times';

/** Starts `count` hosts named `<prefix><h>`; each is pushed into `into` as soon as it runs (so it gets stopped). */
export async function startMeshedHosts(prefix: string, count: number, into: OvsSandbox[]): Promise<void> {
  for (let h = 0; h < count; h++) {
    const peers = into.map((s) => s.name);
    const sb = await OvsSandbox.start({
      name: `${prefix}${h}`,
      underlay: { ip: `${hostUnderlay(h)}/24`, ...(peers.length > 0 ? { peer: peers } : {}) },
    });
    into.push(sb);
  }
}

/** Plugs VM i (options from `vm(i)`) on host i % hosts.length; returns them in index order. */
export async function plugVms(
  hosts: readonly OvsSandbox[],
  count: number,
  vm: (i: number) => VmOptions,
  say: (line: string) => void = () => undefined,
): Promise<Vm[]> {
  const plugged = await Promise.all(
    hosts.map(async (sb, h) => {
      const vms: Vm[] = [];
      for (let i = h; i < count; i += hosts.length) {
        vms.push(await sb.addVm(vm(i)));
        if (vms.length % 25 === 0) say(`host ${h}: ${vms.length} VMs plugged`);
      }
      return vms;
    }),
  );
  return Array.from({ length: count }, (_, i) => plugged[i % hosts.length]?.[Math.floor(i / hosts.length)] as Vm);
}
