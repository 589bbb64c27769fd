// The agent's Prometheus metrics (text exposition format 0.0.4), kept as plain counters: a handful
// of values does not need a metrics library.

const APPLY_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

export class Metrics {
  readonly goalStates = { success: 0, failure: 0 };
  flowsInstalled = 0;
  packetIns = 0;
  dhcpReplies = 0;
  otherPunts = 0;
  puntsDropped = 0;
  onDemandRequests = 0;
  readonly #applyBuckets = APPLY_BUCKETS_S.map(() => 0);
  #applyCount = 0;
  #applySumS = 0;

  observeApply(seconds: number): void {
    this.#applyCount++;
    this.#applySumS += seconds;
    for (let i = 0; i < APPLY_BUCKETS_S.length; i++) if (seconds <= APPLY_BUCKETS_S[i]) this.#applyBuckets[i]++;
  }

  render(load?: { readonly queued: number; readonly running: number }): string {
    const out: string[] = [];
    const metric = (
      name: string,
      type: 'counter' | 'gauge' | 'histogram',
      help: string,
      lines: readonly string[],
    ): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines);
    };
    metric('alcor_agent_goal_states_total', 'counter', 'Goal states applied, by result.', [
      `alcor_agent_goal_states_total{result="success"} ${this.goalStates.success}`,
      `alcor_agent_goal_states_total{result="failure"} ${this.goalStates.failure}`,
    ]);
    metric('alcor_agent_flows_installed', 'gauge', 'Flows the agent keeps installed.', [
      `alcor_agent_flows_installed ${this.flowsInstalled}`,
    ]);
    metric('alcor_agent_packet_ins_total', 'counter', 'PACKET_IN messages received.', [
      `alcor_agent_packet_ins_total ${this.packetIns}`,
    ]);
    metric('alcor_agent_punts_total', 'counter', 'Packet-ins by what happened to them.', [
      `alcor_agent_punts_total{outcome="dhcp_reply"} ${this.dhcpReplies}`,
      `alcor_agent_punts_total{outcome="other"} ${this.otherPunts}`,
      `alcor_agent_punts_total{outcome="rate_limited"} ${this.puntsDropped}`,
      `alcor_agent_punts_total{outcome="on_demand_request"} ${this.onDemandRequests}`,
    ]);
    const buckets = APPLY_BUCKETS_S.map(
      (le, i) => `alcor_agent_apply_seconds_bucket{le="${le}"} ${this.#applyBuckets[i]}`,
    );
    metric('alcor_agent_apply_seconds', 'histogram', 'Goal-state apply latency (prepare + bundle + barrier).', [
      ...buckets,
      `alcor_agent_apply_seconds_bucket{le="+Inf"} ${this.#applyCount}`,
      `alcor_agent_apply_seconds_sum ${this.#applySumS}`,
      `alcor_agent_apply_seconds_count ${this.#applyCount}`,
    ]);
    // The process's memory (worker threads included in RSS; the heap figures are the main thread's):
    // what an operator watches on a hypervisor whose memory is sold to VMs.
    const mem = process.memoryUsage();
    metric('process_resident_memory_bytes', 'gauge', 'Resident memory of the agent process.', [
      `process_resident_memory_bytes ${mem.rss}`,
    ]);
    metric('nodejs_memory_bytes', 'gauge', 'Main thread memory by kind (V8 heap used, external, ArrayBuffers).', [
      `nodejs_memory_bytes{kind="heap_used"} ${mem.heapUsed}`,
      `nodejs_memory_bytes{kind="heap_total"} ${mem.heapTotal}`,
      `nodejs_memory_bytes{kind="external"} ${mem.external}`,
      `nodejs_memory_bytes{kind="array_buffers"} ${mem.arrayBuffers}`,
    ]);
    if (load !== undefined) {
      metric('alcor_agent_grpc_queue', 'gauge', 'Goal states waiting or running.', [
        `alcor_agent_grpc_queue{state="queued"} ${load.queued}`,
        `alcor_agent_grpc_queue{state="running"} ${load.running}`,
      ]);
    }
    return out.join('\n') + '\n';
  }
}
