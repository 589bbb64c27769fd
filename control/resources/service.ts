// The resource managers: create, update, delete and read VPCs, subnets, ports, routers and security groups.
// Every write is one record-store transaction that checks references, overlaps and revisions and claims or
// releases addresses together with the records, so a request is applied whole or not at all. What the
// writes mean for the agents is the DPM's business (control/dpm), which follows the record store's changes.
import { formatIpv4 } from '../../core/goalstate/addr';
import { Cidr } from '../../core/model';
import {
  allocateIp,
  allocateMac,
  allocateVni,
  cidrInside,
  cidrsOverlap,
  claimIp,
  claimMac,
  claimVni,
  hostRange,
  ipKey,
  MAX_VNI,
  releaseIp,
  releaseMac,
  releaseVni,
} from '../ipam/ipam';
import { ApiError, badField, conflict, notFound } from './errors';
import {
  AnyRecord,
  asBody,
  Body,
  checkId,
  checkRevision,
  cidrOf,
  idOf,
  ipOf,
  Kind,
  macOf,
  optBool,
  optInt,
  optStr,
  optStrList,
  PortRecord,
  PREFIX,
  RouterRecord,
  rulesOf,
  SecurityGroupRecord,
  SINGULAR,
  str,
  SubnetRecord,
  unprogrammedRules,
  VpcRecord,
} from './model';
import { RecordStore, RecordTxn } from './record-store';

export type PortStatus = 'PENDING' | 'ACTIVE' | 'ERROR';

export interface PortStatusRecord {
  readonly status: PortStatus;
  readonly reason: string;
  /** Mod revision of the port record this status is about. */
  readonly modRev: number;
}

export type UpdateMode = 'put' | 'patch';

/** Fields a client may send back unchanged from a GET (read-only, ignored). */
const READ_ONLY = new Set(['revision', 'status', 'statusReason', 'notProgrammed']);

const FIELDS: Readonly<Record<Kind, ReadonlySet<string>>> = {
  vpcs: new Set(['id', 'cidr', 'vni']),
  subnets: new Set(['id', 'vpc', 'cidr', 'gatewayIp', 'gatewayMac', 'dhcp', 'dnsServers', 'vni']),
  ports: new Set(['id', 'subnet', 'vpc', 'host', 'mac', 'ip', 'securityGroups', 'device']),
  routers: new Set(['id', 'subnets']),
  'security-groups': new Set(['id', 'rules']),
};

function checkFields(kind: Kind, body: Body, at = ''): void {
  for (const k of Object.keys(body)) {
    if (!FIELDS[kind].has(k) && !READ_ONLY.has(k))
      throw new ApiError(400, 'UNKNOWN_FIELD', `${at}${k}: not a field of a ${SINGULAR[kind]}`, `${at}${k}`);
  }
}

function immutable(body: Body, field: string, current: unknown): void {
  const v = body[field];
  if (v !== undefined && v !== null && v !== current)
    throw new ApiError(400, 'IMMUTABLE_FIELD', `${field} cannot change (is ${JSON.stringify(current)})`, field);
}

const sgKey = (id: string): string => `sg/${id}`;

export class ResourceService {
  /** Port statuses this replica learned from the agents (also published to the store for the others). */
  private readonly statuses = new Map<string, PortStatusRecord>();
  private unpublished = new Map<string, PortStatusRecord>();
  private publishing = false;

  constructor(readonly store: RecordStore) {}

  /** Called by the DPM with what a port's agent answered. */
  recordStatus(portId: string, st: PortStatusRecord): void {
    const had = this.statuses.get(portId);
    if (had !== undefined && had.modRev > st.modRev) return;
    this.statuses.set(portId, st);
    this.unpublished.set(portId, st);
    if (this.publishing) return;
    this.publishing = true;
    setTimeout(() => {
      const batch = new Map([...this.unpublished].map(([id, s]) => [`status/${id}`, s] as const));
      this.unpublished = new Map();
      this.store.putLoose(batch).then(
        () => (this.publishing = false),
        () => (this.publishing = false),
      );
    }, 5);
  }

  // ---- reads ----------------------------------------------------------------------------------------

  get(kind: Kind, id: string): Record<string, unknown> {
    const e = this.store.view.get(PREFIX[kind] + id);
    if (e === undefined) throw notFound(SINGULAR[kind], id);
    return this.present(kind, e.value as AnyRecord, e.modRev);
  }

  list(kind: Kind, filters: ReadonlyMap<string, string>): Array<Record<string, unknown>> {
    const allowed: Readonly<Record<Kind, readonly string[]>> = {
      vpcs: [],
      subnets: ['vpc'],
      ports: ['vpc', 'subnet', 'host'],
      routers: [],
      'security-groups': [],
    };
    for (const f of filters.keys()) {
      if (!allowed[kind].includes(f))
        throw new ApiError(400, 'BAD_FILTER', `${SINGULAR[kind]}s cannot be filtered by ${JSON.stringify(f)}`, f);
    }
    const prefix = PREFIX[kind];
    const out: Array<Record<string, unknown>> = [];
    for (const [k, e] of this.store.view) {
      if (!k.startsWith(prefix)) continue;
      const r = e.value as Record<string, unknown>;
      let ok = true;
      for (const [f, v] of filters) if (r[f] !== v) ok = false;
      if (ok) out.push(this.present(kind, e.value as AnyRecord, e.modRev));
    }
    out.sort((a, b) => String(a.id).localeCompare(String(b.id)));
    return out;
  }

  /** The record as the API shows it: ports with their programming status, groups with unprogrammed rules. */
  present(kind: Kind, rec: AnyRecord, modRev: number): Record<string, unknown> {
    if (kind === 'ports') {
      const p = rec as PortRecord;
      const local = this.statuses.get(p.id);
      const shared = this.store.view.get(`status/${p.id}`)?.value as PortStatusRecord | undefined;
      const st = local !== undefined && local.modRev >= (shared?.modRev ?? 0) ? local : shared;
      let status: PortStatus = 'PENDING';
      let reason = p.host === '' ? 'not bound to a host' : 'waiting for the agent of host ' + p.host;
      if (p.host !== '' && st !== undefined && st.modRev >= modRev) {
        status = st.status;
        reason = st.reason;
      }
      return { ...p, status, statusReason: reason };
    }
    if (kind === 'security-groups') {
      const notProgrammed = unprogrammedRules(rec as SecurityGroupRecord);
      return notProgrammed.length === 0 ? { ...rec } : { ...rec, notProgrammed };
    }
    return { ...rec };
  }

  // ---- writes ---------------------------------------------------------------------------------------

  async create(kind: Kind, json: unknown): Promise<{ items: Array<Record<string, unknown>>; revision: number }> {
    const bulk = kind === 'ports' && Array.isArray(json);
    const bodies = bulk ? (json as unknown[]) : [json];
    if (bulk && bodies.length === 0) throw new ApiError(400, 'BAD_BODY', 'an empty list of ports');
    const checked = bodies.map((b, i) => {
      const body = asBody(b, SINGULAR[kind]);
      checkFields(kind, body, bulk ? `[${i}].` : '');
      return body;
    });
    const { result, revision } = await this.store.transact((tx) =>
      checked.map((body, i) => {
        try {
          return this.createOne(tx, kind, body);
        } catch (err: unknown) {
          if (bulk && err instanceof ApiError && err.field !== undefined)
            throw new ApiError(err.status, err.code, `[${i}].${err.message}`, `[${i}].${err.field}`);
          throw err;
        }
      }),
    );
    return { items: result.map((r) => this.present(kind, r, revision)), revision };
  }

  private createOne(tx: RecordTxn, kind: Kind, body: Body): AnyRecord {
    const id = idOf(body);
    const key = PREFIX[kind] + id;
    if (tx.get(key) !== undefined) throw conflict('ID_EXISTS', `${SINGULAR[kind]} ${id} already exists`, 'id');
    let rec: AnyRecord;
    switch (kind) {
      case 'vpcs':
        rec = this.newVpc(tx, id, body);
        break;
      case 'subnets':
        rec = this.newSubnet(tx, id, body);
        break;
      case 'ports':
        rec = this.newPort(tx, id, body);
        break;
      case 'routers':
        rec = { id, subnets: this.routerSubnets(tx, id, body), revision: 1 } satisfies RouterRecord;
        break;
      case 'security-groups':
        rec = { id, rules: this.sgRules(tx, id, body), revision: 1 } satisfies SecurityGroupRecord;
        break;
    }
    tx.put(key, rec);
    return rec;
  }

  async update(
    kind: Kind,
    id: string,
    json: unknown,
    mode: UpdateMode,
    expected: number | undefined,
  ): Promise<{ item: Record<string, unknown>; revision: number }> {
    checkId(id);
    const body = asBody(json, SINGULAR[kind]);
    checkFields(kind, body);
    if (body.id !== undefined && body.id !== id) throw badField('id', `differs from the path's id ${id}`);
    const key = PREFIX[kind] + id;
    const { result, revision } = await this.store.transact((tx) => {
      const cur = tx.get<AnyRecord>(key);
      if (cur === undefined) throw notFound(SINGULAR[kind], id);
      checkRevision(SINGULAR[kind], cur, expected);
      let next: AnyRecord;
      switch (kind) {
        case 'vpcs':
          next = this.updateVpc(tx, cur as VpcRecord, body);
          break;
        case 'subnets':
          next = this.updateSubnet(tx, cur as SubnetRecord, body, mode);
          break;
        case 'ports':
          next = this.updatePort(tx, cur as PortRecord, body, mode);
          break;
        case 'routers': {
          const r = cur as RouterRecord;
          const subnets = mode === 'patch' && body.subnets === undefined ? r.subnets : this.routerSubnets(tx, id, body);
          next = { ...r, subnets, revision: r.revision + 1 };
          break;
        }
        case 'security-groups': {
          const g = cur as SecurityGroupRecord;
          const rules = mode === 'patch' && body.rules === undefined ? g.rules : this.sgRules(tx, id, body);
          next = { ...g, rules, revision: g.revision + 1 };
          break;
        }
      }
      tx.put(key, next);
      return next;
    });
    return { item: this.present(kind, result, revision), revision };
  }

  async delete(kind: Kind, id: string, expected: number | undefined): Promise<{ revision: number }> {
    checkId(id);
    const key = PREFIX[kind] + id;
    const { revision } = await this.store.transact((tx) => {
      const cur = tx.get<AnyRecord>(key);
      if (cur === undefined) throw notFound(SINGULAR[kind], id);
      checkRevision(SINGULAR[kind], cur, expected);
      switch (kind) {
        case 'vpcs': {
          const v = cur as VpcRecord;
          const used = tx.list<SubnetRecord>('subnet/').find(([, s]) => s.vpc === id);
          if (used !== undefined) throw conflict('VPC_IN_USE', `vpc ${id} still has subnet ${used[1].id}`);
          releaseVni(tx, v.vni, `vpc:${id}`);
          break;
        }
        case 'subnets': {
          const s = cur as SubnetRecord;
          const port = tx.list<string>(`ip/${id}/`)[0];
          if (port !== undefined) throw conflict('SUBNET_IN_USE', `subnet ${id} still has port ${port[1]}`);
          const router = tx.list<RouterRecord>('router/').find(([, r]) => r.subnets.includes(id));
          if (router !== undefined)
            throw conflict('SUBNET_IN_USE', `subnet ${id} is attached to router ${router[1].id}`, 'router');
          releaseVni(tx, s.vni, `subnet:${id}`);
          releaseMac(tx, s.gatewayMac, `subnet:${id}`);
          break;
        }
        case 'ports': {
          const p = cur as PortRecord;
          releaseIp(tx, p.subnet, p.ip, p.id);
          releaseMac(tx, p.mac, `port:${p.id}`);
          if (tx.peek(`status/${p.id}`)) tx.del(`status/${p.id}`);
          this.statuses.delete(p.id);
          break;
        }
        case 'routers':
          break;
        case 'security-groups': {
          const port = tx.list<PortRecord>('port/').find(([, p]) => p.securityGroups.includes(id));
          if (port !== undefined) throw conflict('SG_IN_USE', `security group ${id} is used by port ${port[1].id}`);
          const other = tx
            .list<SecurityGroupRecord>('sg/')
            .find(([, g]) => g.id !== id && g.rules.some((r) => r.remoteGroup === id));
          if (other !== undefined)
            throw conflict('SG_IN_USE', `security group ${id} is the remote group of a rule of ${other[1].id}`);
          break;
        }
      }
      tx.del(key);
    });
    return { revision };
  }

  // ---- VPC ------------------------------------------------------------------------------------------

  private newVpc(tx: RecordTxn, id: string, body: Body): VpcRecord {
    const cidr = cidrOf(str(body, 'cidr'), 'cidr', 30);
    const want = optInt(body, 'vni', 1, MAX_VNI);
    let vni: number;
    if (want === undefined) vni = allocateVni(tx, `vpc:${id}`);
    else {
      claimVni(tx, want, `vpc:${id}`);
      vni = want;
    }
    return { id, cidr: `${formatIpv4(cidr.addr)}/${cidr.prefix}`, vni, revision: 1 };
  }

  private updateVpc(tx: RecordTxn, cur: VpcRecord, body: Body): VpcRecord {
    immutable(body, 'vni', cur.vni);
    const text = optStr(body, 'cidr');
    if (text === undefined) return { ...cur, revision: cur.revision + 1 };
    const cidr = cidrOf(text, 'cidr', 30);
    for (const [, s] of tx.list<SubnetRecord>('subnet/')) {
      if (s.vpc === cur.id && !cidrInside(cidrOf(s.cidr, 'cidr'), cidr))
        throw conflict('CIDR_OUTSIDE_VPC', `subnet ${s.id} (${s.cidr}) would be outside ${text}`, 'cidr');
    }
    return { ...cur, cidr: `${formatIpv4(cidr.addr)}/${cidr.prefix}`, revision: cur.revision + 1 };
  }

  // ---- subnet ---------------------------------------------------------------------------------------

  private newSubnet(tx: RecordTxn, id: string, body: Body): SubnetRecord {
    const vpcId = str(body, 'vpc');
    const vpc = tx.get<VpcRecord>(`vpc/${vpcId}`);
    if (vpc === undefined) throw badField('vpc', `no vpc ${JSON.stringify(vpcId)}`, 'UNKNOWN_REFERENCE');
    const cidr = cidrOf(str(body, 'cidr'), 'cidr', 30);
    const text = `${formatIpv4(cidr.addr)}/${cidr.prefix}`;
    if (!cidrInside(cidr, cidrOf(vpc.cidr, 'cidr')))
      throw badField('cidr', `${text} is not inside vpc ${vpcId}'s ${vpc.cidr}`, 'CIDR_OUTSIDE_VPC');
    for (const [, s] of tx.list<SubnetRecord>('subnet/')) {
      if (s.vpc === vpcId && cidrsOverlap(cidr, cidrOf(s.cidr, 'cidr')))
        throw conflict('CIDR_OVERLAP', `${text} overlaps subnet ${s.id} (${s.cidr})`, 'cidr');
    }
    const gatewayIp = this.gateway(cidr, optStr(body, 'gatewayIp'));
    const gwMacText = optStr(body, 'gatewayMac');
    let gatewayMac: string;
    if (gwMacText === undefined) gatewayMac = allocateMac(tx, `subnet:${id}`);
    else {
      gatewayMac = macOf(gwMacText, 'gatewayMac');
      claimMac(tx, gatewayMac, `subnet:${id}`);
    }
    const want = optInt(body, 'vni', 1, MAX_VNI);
    let vni: number;
    if (want === undefined) vni = allocateVni(tx, `subnet:${id}`);
    else {
      claimVni(tx, want, `subnet:${id}`);
      vni = want;
    }
    return {
      id,
      vpc: vpcId,
      cidr: text,
      gatewayIp,
      gatewayMac,
      dhcp: optBool(body, 'dhcp') ?? true,
      dnsServers: this.dns(body),
      vni,
      revision: 1,
    };
  }

  private gateway(cidr: Cidr, text: string | undefined): string {
    const { first, last } = hostRange(cidr);
    if (text === undefined) return formatIpv4(first);
    const ip = ipOf(text, 'gatewayIp');
    if (ip < first || ip > last)
      throw badField(
        'gatewayIp',
        `${text} is not a host address of ${formatIpv4(cidr.addr)}/${cidr.prefix}`,
        'IP_OUTSIDE_SUBNET',
      );
    return formatIpv4(ip);
  }

  private dns(body: Body): string[] {
    const list = optStrList(body, 'dnsServers') ?? [];
    if (list.length > 5) throw badField('dnsServers', 'at most 5 servers (what DHCP hands out)');
    return list.map((d, i) => formatIpv4(ipOf(d, `dnsServers[${i}]`)));
  }

  private updateSubnet(tx: RecordTxn, cur: SubnetRecord, body: Body, mode: UpdateMode): SubnetRecord {
    for (const f of ['vpc', 'cidr', 'vni', 'gatewayMac'] as const) immutable(body, f, cur[f]);
    const cidr = cidrOf(cur.cidr, 'cidr');
    const gwText = optStr(body, 'gatewayIp');
    let gatewayIp = cur.gatewayIp;
    if (gwText !== undefined && gwText !== cur.gatewayIp) {
      gatewayIp = this.gateway(cidr, gwText);
      const holder = tx.get<string>(ipKey(cur.id, gatewayIp));
      if (holder !== undefined) throw conflict('IP_IN_USE', `${gatewayIp} is used by port ${holder}`, 'gatewayIp');
    }
    const dhcp = optBool(body, 'dhcp') ?? (mode === 'put' ? true : cur.dhcp);
    const dnsServers = body.dnsServers !== undefined || mode === 'put' ? this.dns(body) : cur.dnsServers;
    return { ...cur, gatewayIp, dhcp, dnsServers, revision: cur.revision + 1 };
  }

  // ---- port -----------------------------------------------------------------------------------------

  private hostOf(body: Body): string {
    const host = optStr(body, 'host') ?? '';
    return host === '' ? '' : formatIpv4(ipOf(host, 'host'));
  }

  private groups(tx: RecordTxn, body: Body): string[] {
    const list = [...new Set(optStrList(body, 'securityGroups') ?? [])];
    for (const g of list) {
      if (tx.get(sgKey(g)) === undefined)
        throw badField('securityGroups', `no security group ${JSON.stringify(g)}`, 'UNKNOWN_REFERENCE');
    }
    return list;
  }

  private checkIp(subnet: SubnetRecord, text: string): string {
    const ip = ipOf(text, 'ip');
    const cidr = cidrOf(subnet.cidr, 'cidr');
    const { first, last } = hostRange(cidr);
    if (ip < first || ip > last)
      throw badField(
        'ip',
        `${text} is not a host address of subnet ${subnet.id} (${subnet.cidr})`,
        'IP_OUTSIDE_SUBNET',
      );
    const norm = formatIpv4(ip);
    if (norm === subnet.gatewayIp) throw conflict('IP_IN_USE', `${norm} is the gateway of subnet ${subnet.id}`, 'ip');
    return norm;
  }

  private newPort(tx: RecordTxn, id: string, body: Body): PortRecord {
    const subnetId = str(body, 'subnet');
    const subnet = tx.get<SubnetRecord>(`subnet/${subnetId}`);
    if (subnet === undefined) throw badField('subnet', `no subnet ${JSON.stringify(subnetId)}`, 'UNKNOWN_REFERENCE');
    const vpc = optStr(body, 'vpc');
    if (vpc !== undefined && vpc !== subnet.vpc) throw badField('vpc', `subnet ${subnetId} is in vpc ${subnet.vpc}`);
    const host = this.hostOf(body);
    const securityGroups = this.groups(tx, body);
    const macText = optStr(body, 'mac');
    let mac: string;
    if (macText === undefined) mac = allocateMac(tx, `port:${id}`);
    else {
      mac = macOf(macText, 'mac');
      claimMac(tx, mac, `port:${id}`);
    }
    const ipText = optStr(body, 'ip');
    let ip: string;
    if (ipText === undefined) {
      const cidr = cidrOf(subnet.cidr, 'cidr');
      ip = allocateIp(tx, subnetId, cidr, cidrOf(subnet.gatewayIp + '/32', 'gatewayIp').addr, id);
    } else {
      ip = this.checkIp(subnet, ipText);
      claimIp(tx, subnetId, ip, id);
    }
    const device = optStr(body, 'device') ?? '';
    return { id, subnet: subnetId, vpc: subnet.vpc, host, mac, ip, securityGroups, device, revision: 1 };
  }

  private updatePort(tx: RecordTxn, cur: PortRecord, body: Body, mode: UpdateMode): PortRecord {
    immutable(body, 'subnet', cur.subnet);
    immutable(body, 'vpc', cur.vpc);
    const put = mode === 'put';
    const host = body.host !== undefined || put ? this.hostOf(body) : cur.host;
    const securityGroups = body.securityGroups !== undefined || put ? this.groups(tx, body) : cur.securityGroups;
    const device = optStr(body, 'device') ?? (put ? '' : cur.device);
    let mac = cur.mac;
    const macText = optStr(body, 'mac');
    if (macText !== undefined && macOf(macText, 'mac') !== cur.mac) {
      mac = macOf(macText, 'mac');
      claimMac(tx, mac, `port:${cur.id}`);
      releaseMac(tx, cur.mac, `port:${cur.id}`);
    }
    let ip = cur.ip;
    const ipText = optStr(body, 'ip');
    if (ipText !== undefined) {
      const subnet = tx.get<SubnetRecord>(`subnet/${cur.subnet}`);
      if (subnet === undefined) throw notFound('subnet', cur.subnet);
      const norm = this.checkIp(subnet, ipText);
      if (norm !== cur.ip) {
        claimIp(tx, cur.subnet, norm, cur.id);
        releaseIp(tx, cur.subnet, cur.ip, cur.id);
        ip = norm;
      }
    }
    return { ...cur, host, securityGroups, device, mac, ip, revision: cur.revision + 1 };
  }

  // ---- router ---------------------------------------------------------------------------------------

  private routerSubnets(tx: RecordTxn, routerId: string, body: Body): string[] {
    const list = [...new Set(optStrList(body, 'subnets') ?? [])];
    let vpc: string | undefined;
    const others = tx.list<RouterRecord>('router/');
    for (const id of list) {
      const s = tx.get<SubnetRecord>(`subnet/${id}`);
      if (s === undefined) throw badField('subnets', `no subnet ${JSON.stringify(id)}`, 'UNKNOWN_REFERENCE');
      if (vpc !== undefined && s.vpc !== vpc)
        throw badField('subnets', `subnet ${id} is in vpc ${s.vpc}, the others in ${vpc}`, 'VPC_MISMATCH');
      vpc = s.vpc;
      const taken = others.find(([, r]) => r.id !== routerId && r.subnets.includes(id));
      if (taken !== undefined)
        throw conflict('SUBNET_IN_USE', `subnet ${id} is already attached to router ${taken[1].id}`, 'subnets');
    }
    return list;
  }

  // ---- security group -------------------------------------------------------------------------------

  private sgRules(tx: RecordTxn, sgId: string, body: Body): SecurityGroupRecord['rules'] {
    const rules = rulesOf(body);
    rules.forEach((r, i) => {
      if (r.remoteGroup !== undefined && r.remoteGroup !== sgId && tx.get(sgKey(r.remoteGroup)) === undefined)
        throw badField(
          `rules[${i}].remoteGroup`,
          `no security group ${JSON.stringify(r.remoteGroup)}`,
          'UNKNOWN_REFERENCE',
        );
    });
    return rules;
  }
}
