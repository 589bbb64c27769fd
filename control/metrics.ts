// A tiny Prometheus registry: counters, gauges and histograms rendered in the text exposition format
// (https://prometheus.io/docs/instrumenting/exposition_formats/). No dependency, no labels beyond one optional set.

type Labels = Readonly<Record<string, string>>;

function labelText(labels: Labels | undefined): string {
  if (labels === undefined) return '';
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

interface Metric {
  render(): string;
}

export class Counter implements Metric {
  private readonly values = new Map<string, number>();
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  inc(by = 1, labels?: Labels): void {
    const k = labelText(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }
  get(labels?: Labels): number {
    return this.values.get(labelText(labels)) ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    if (this.values.size === 0) lines.push(`${this.name} 0`);
    for (const [k, v] of this.values) lines.push(`${this.name}${k} ${v}`);
    return lines.join('\n');
  }
}

export class Gauge implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly read: () => number,
  ) {}
  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, `${this.name} ${this.read()}`].join('\n');
  }
}

export class Histogram implements Metric {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly bounds: readonly number[],
  ) {
    this.counts = bounds.map(() => 0);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.bounds.length; i++)
      if (v <= (this.bounds[i] as number)) this.counts[i] = (this.counts[i] as number) + 1;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.bounds.forEach((b, i) => lines.push(`${this.name}_bucket{le="${b}"} ${this.counts[i] as number}`));
    lines.push(
      `${this.name}_bucket{le="+Inf"} ${this.count}`,
      `${this.name}_sum ${this.sum}`,
      `${this.name}_count ${this.count}`,
    );
    return lines.join('\n');
  }
}

/**
 * Per NATS host: goal-state messages published for it (its own subject or a VPC subject naming it) and
 * replies received from its agent; their difference is its lag (messages stored for it and not applied
 * yet). Kept by subject token (an IPv4 address with '_' for '.'), counted with two array writes per
 * message so a VPC-wide change to a thousand hosts stays cheap; labels are made only when scraped.
 */
export class NatsHostLag implements Metric {
  private readonly hosts = new Map<string, [number, number]>();
  sent(token: string): void {
    const c = this.hosts.get(token);
    if (c === undefined) this.hosts.set(token, [1, 0]);
    else c[0]++;
  }
  answered(token: string): void {
    const c = this.hosts.get(token);
    if (c !== undefined) c[1]++;
  }
  lag(token: string): number {
    const c = this.hosts.get(token);
    return c === undefined ? 0 : c[0] - c[1];
  }
  render(): string {
    const fams: Array<[string, string, string, (c: [number, number]) => number]> = [
      ['alcor_control_nats_host_sent_total', 'counter', 'Goal-state messages published for the host', (c) => c[0]],
      ['alcor_control_nats_host_answered_total', 'counter', "Replies from the host's agent", (c) => c[1]],
      [
        'alcor_control_nats_host_lag',
        'gauge',
        'Messages published for the host and not answered yet',
        (c) => c[0] - c[1],
      ],
    ];
    const lines: string[] = [];
    for (const [name, type, help, val] of fams) {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [token, c] of this.hosts)
        lines.push(`${name}${labelText({ host: token.replace(/_/g, '.') })} ${val(c)}`);
    }
    return lines.join('\n');
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];
  add<M extends Metric>(m: M): M {
    this.metrics.push(m);
    return m;
  }
  render(): string {
    return this.metrics.map((m) => m.render()).join('\n') + '\n';
  }
}

/** The control plane's metrics (gauges are bound later by the controller). */
export class ControlMetrics {
  readonly registry = new Registry();
  readonly pushes = this.registry.add(
    new Counter('alcor_control_pushes_total', 'Goal-state messages acknowledged by agents'),
  );
  readonly pushesCancelled = this.registry.add(
    new Counter(
      'alcor_control_push_cancelled_total',
      'Keys pushed and retracted (e.g. neighbors of a VPC that passed the neighbor limit) while both waited behind a busy agent: sent neither way',
    ),
  );
  readonly pushFailures = this.registry.add(
    new Counter(
      'alcor_control_push_failures_total',
      'Agent stream failures (connect errors, broken streams, timeouts)',
    ),
  );
  readonly fullPushes = this.registry.add(new Counter('alcor_control_full_pushes_total', 'Full host state re-pushes'));
  readonly northbound = this.registry.add(
    new Counter('alcor_control_goal_states_total', 'Goal states accepted northbound'),
  );
  readonly northboundRejected = this.registry.add(
    new Counter('alcor_control_goal_states_rejected_total', 'Goal states refused (bad input or store unavailable)'),
  );
  readonly onDemand = this.registry.add(
    new Counter('alcor_control_host_requests_total', 'RequestGoalStates calls from agents'),
  );
  readonly peerRevocations = this.registry.add(
    new Counter(
      'alcor_control_peer_revocations_total',
      'Leases of crashed peers this replica revoked on crash evidence (peer connection closed, reconnect refused)',
    ),
  );
  readonly peerDisconnects = this.registry.add(
    new Counter(
      'alcor_control_peer_disconnects_total',
      'Verified peer connections that closed, by what the immediate reconnect showed (gone, reconnected, timeout, failed)',
    ),
  );
  readonly pushLatency = this.registry.add(
    new Histogram(
      'alcor_control_push_latency_ms',
      'Time from sending a message to an agent until its reply',
      [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
    ),
  );
  readonly commitLatency = this.registry.add(
    new Histogram(
      'alcor_control_commit_latency_ms',
      'Time to make a goal state durable',
      [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000],
    ),
  );
  readonly natsPublishLatency = this.registry.add(
    new Histogram(
      'alcor_control_nats_publish_latency_ms',
      'Time for JetStream to acknowledge (store) one goal-state message, all its chunks',
      [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000],
    ),
  );
  readonly natsPublishFailures = this.registry.add(
    new Counter('alcor_control_nats_publish_failures_total', 'Goal-state messages JetStream did not acknowledge'),
  );
  readonly natsPublishes = this.registry.add(
    new Counter(
      'alcor_control_nats_publishes_total',
      'Goal-state messages JetStream stored (a host subject or a VPC subject; chunks of one message count once)',
    ),
  );
  readonly natsVpcPublishes = this.registry.add(
    new Counter(
      'alcor_control_nats_vpc_publishes_total',
      'Changes published once to a VPC subject for all the NATS hosts that need them (instead of one per host)',
    ),
  );
  readonly natsVpcHosts = this.registry.add(
    new Counter('alcor_control_nats_vpc_hosts_total', 'Host deliveries carried by VPC-subject publishes'),
  );
  readonly natsHostLag = this.registry.add(new NatsHostLag());
  readonly natsResyncs = this.registry.add(
    new Counter(
      'alcor_control_nats_resyncs_total',
      "Full states pushed because a host's agent found messages expired from the stream before it consumed them",
    ),
  );
  readonly natsFallbacks = this.registry.add(
    new Counter(
      'alcor_control_nats_fallbacks_total',
      'Times a NATS host was switched to its gRPC agent address because the broker was unreachable',
    ),
  );
  gauge(name: string, help: string, read: () => number): void {
    this.registry.add(new Gauge(name, help, read));
  }
}
