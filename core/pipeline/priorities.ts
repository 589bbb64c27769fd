// Flow priorities, by name. Within a table only the relative order matters; the gaps leave room.
// Route priorities are computed (longest prefix wins): see routePriority().

export const Priority = {
  /** Table-miss flows (the table's declared miss action). */
  Miss: 0,
  /** Catch-alls just above the miss: punts of unknown ARP targets / unknown unicast from VM ports. */
  Punt: 10,
  /** Above the punts: a ZETA gateway takes a VPC's unknown unicast and unknown ARP (gateway-flows.ts). */
  GatewayUnknown: 20,
  /** Ordinary per-resource flows. */
  /** ZETA direct paths (OAM injections), as ACA: above the gateway's unknown unicast, below known MACs. */
  DirectPath: 50,
  Normal: 100,
  /** Above the per-VNI flood (Normal): a VM's broadcast in a ZETA gateway's VPC goes to the gateway first. */
  GatewayFlood: 150,
  /** Conjunctive security-group clauses and their conj_id flows (one priority for all, as OVS requires). */
  SgConjunction: 100,
  /** Direct security-group accept flows (any accept wins, so their order against conjunctions is irrelevant). */
  SgRule: 110,
  /** ct_state=est / rel pass-through in the SG rule tables. */
  SgEstablished: 200,
  /** ct_state=inv drop in the SG rule tables, above everything else there. */
  SgInvalid: 210,
  /** More specific than Normal: e.g. an ARP request for the asker's own IP, DVR restore from the tunnel. */
  High: 200,
  /** Base of static route priorities: RouteBase + prefix length. */
  RouteBase: 300,
  /** Routes to a router's own (connected) subnets beat every static route. */
  RouteConnected: 340,
} as const;

/** Static route rules: longest prefix first, as an IP router would choose. */
export function routePriority(prefixLength: number): number {
  return Priority.RouteBase + prefixLength;
}
