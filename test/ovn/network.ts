// A tenant network on OVN as an operator's CMS makes it, for the VM scenario (alcor-bench vms --baseline ovn): a
// logical switch, a logical router with one port on it (the VMs' gateway: OVN answers ping on router IPs), OVN's
// native DHCP (a DHCP_Options row), and per VM a Logical_Switch_Port with "MAC IP" and that DHCP row. Every write
// goes through the project's OVSDB client; one VM port is one transaction, like one port POST on our side.
import { map, namedUuid, uuid, uuidOf, type Operation } from '../../agent/ovsdb';
import { NB_DB, type OvsdbClient } from './db';

export interface RoutedNetwork {
  readonly switchName: string;
  /** e.g. 10.30.0.0/16 */
  readonly cidr: string;
  readonly gatewayIp: string;
  readonly gatewayMac: string;
}

export interface VmPort {
  readonly name: string;
  readonly mac: string;
  readonly ip: string;
}

/** Creates the switch, router, router port and DHCP options in one transaction; returns the DHCP_Options uuid. */
export async function createRoutedNetwork(nb: OvsdbClient, net: RoutedNetwork): Promise<string> {
  const prefix = net.cidr.split('/')[1] ?? '24';
  const lrp = `lrp-${net.switchName}`;
  const ops: Operation[] = [
    {
      op: 'insert',
      table: 'Logical_Router_Port',
      'uuid-name': 'lrp',
      row: { name: lrp, mac: net.gatewayMac, networks: `${net.gatewayIp}/${prefix}` },
    },
    { op: 'insert', table: 'Logical_Router', row: { name: `lr-${net.switchName}`, ports: namedUuid('lrp') } },
    {
      op: 'insert',
      table: 'Logical_Switch_Port',
      'uuid-name': 'rp',
      row: { name: `${net.switchName}-lr`, type: 'router', addresses: 'router', options: map({ 'router-port': lrp }) },
    },
    { op: 'insert', table: 'Logical_Switch', row: { name: net.switchName, ports: namedUuid('rp') } },
    {
      op: 'insert',
      table: 'DHCP_Options',
      row: {
        cidr: net.cidr,
        options: map({
          server_id: net.gatewayIp,
          server_mac: net.gatewayMac,
          lease_time: '3600',
          router: net.gatewayIp,
        }),
      },
    },
  ];
  const results = await nb.transact(NB_DB, ops);
  const dhcp = uuidOf(results[4]?.uuid);
  if (dhcp === null) throw new Error('the NB returned no uuid for the DHCP_Options row');
  return dhcp;
}

/** One VM's port in one transaction (the port row and the switch's `ports` set); returns the port's uuid. */
export async function addVmPort(nb: OvsdbClient, switchName: string, dhcp: string, p: VmPort): Promise<string> {
  const results = await nb.transact(NB_DB, [
    {
      op: 'insert',
      table: 'Logical_Switch_Port',
      'uuid-name': 'p',
      row: { name: p.name, addresses: `${p.mac} ${p.ip}`, dhcpv4_options: uuid(dhcp) },
    },
    {
      op: 'mutate',
      table: 'Logical_Switch',
      where: [['name', '==', switchName]],
      mutations: [['ports', 'insert', ['set', [namedUuid('p')]]]],
    },
  ]);
  const id = uuidOf(results[0]?.uuid);
  if (id === null) throw new Error(`the NB returned no uuid for port ${p.name}`);
  return id;
}

/** Removes one port from its switch (the row goes with its last reference): one transaction. */
export async function deleteVmPort(nb: OvsdbClient, switchName: string, portUuid: string): Promise<void> {
  await nb.transact(NB_DB, [
    {
      op: 'mutate',
      table: 'Logical_Switch',
      where: [['name', '==', switchName]],
      mutations: [['ports', 'delete', ['set', [uuid(portUuid)]]]],
    },
  ]);
}

/** Names of the Logical_Switch_Ports whose `up` is true: bound by an ovn-controller, flows in, northd told. */
export async function upPorts(nb: OvsdbClient): Promise<Set<string>> {
  const [sel] = await nb.transact(NB_DB, [
    { op: 'select', table: 'Logical_Switch_Port', where: [['up', '==', true]], columns: ['name'] },
  ]);
  return new Set((sel?.rows ?? []).map((r) => String(r.name)));
}

/**
 * Bumps NB_Global.nb_cfg and resolves once every chassis has caught up with it (hv_cfg, computed by northd over the
 * real chassis' Chassis_Private rows: each ovn-controller reports it once its flows match). False at the deadline.
 */
export async function syncHypervisors(nb: OvsdbClient, deadline: number): Promise<boolean> {
  const [, sel] = await nb.transact(NB_DB, [
    { op: 'mutate', table: 'NB_Global', where: [], mutations: [['nb_cfg', '+=', 1]] },
    { op: 'select', table: 'NB_Global', where: [], columns: ['nb_cfg'] },
  ]);
  const target = Number(sel?.rows?.[0]?.nb_cfg ?? 0);
  for (;;) {
    const [cur] = await nb.transact(NB_DB, [{ op: 'select', table: 'NB_Global', where: [], columns: ['hv_cfg'] }]);
    if (Number(cur?.rows?.[0]?.hv_cfg ?? -1) >= target) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}
