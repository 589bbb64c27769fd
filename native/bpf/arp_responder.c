/* XDP ARP responder: answers ARP requests for addresses the agent knows (ports, neighbors, gateways) straight from
 * the driver, by turning the request into a reply in place and sending it back out of the interface it came in on
 * (XDP_TX). Anything else, including requests for unknown addresses, goes on to the normal stack (XDP_PASS).
 *
 * Maps (the agent pins them under /sys/fs/bpf/alcor/ so they survive agent restarts):
 *   arp_table  hash        {scope u32, ipv4 u32 (network order)} -> {mac[6], pad[2]}
 *   arp_scope  hash        ifindex u32 -> scope u32; an interface without an entry uses its ifindex as the scope,
 *                          so entries can be per interface or shared by every port of one VNI/VPC.
 *   arp_stats  percpu array indexed by ifindex (slot 0 collects ifindexes >= ARP_STATS_SLOTS) -> struct arp_stats
 *
 * Keep it verifier-friendly: every packet access is bounds-checked against data_end right before use, there are no
 * loops, and map values are copied with fixed-size builtins. */
#include "bpf_min.h"

#include <linux/if_ether.h>

/* From linux/if_arp.h, which drags in libc headers that do not exist for the bpf target. */
#define ARPHRD_ETHER 1
#define ARPOP_REQUEST 1
#define ARPOP_REPLY 2

#define ARP_TABLE_ENTRIES 262144
#define ARP_SCOPE_ENTRIES 65536
#define ARP_STATS_SLOTS 4096

struct arp_key {
	__u32 scope;
	__u32 ip; /* network byte order, as on the wire */
};

struct arp_val {
	__u8 mac[6];
	__u8 pad[2];
};

struct arp_stats {
	__u64 rx;          /* frames seen */
	__u64 arp_replied; /* requests answered with XDP_TX */
	__u64 arp_missed;  /* requests for an address not in arp_table (passed on) */
	__u64 passed;      /* frames handed to the stack (XDP_PASS), missed requests included */
};

/* The ARP payload for Ethernet/IPv4; the addresses are not naturally aligned, hence byte arrays. */
struct arp_eth_ipv4 {
	__be16 hrd;
	__be16 pro;
	__u8 hln;
	__u8 pln;
	__be16 op;
	__u8 sha[ETH_ALEN];
	__u8 spa[4];
	__u8 tha[ETH_ALEN];
	__u8 tpa[4];
} __attribute__((packed));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, struct arp_key);
	__type(value, struct arp_val);
	__uint(max_entries, ARP_TABLE_ENTRIES);
} arp_table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, ARP_SCOPE_ENTRIES);
} arp_scope SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct arp_stats);
	__uint(max_entries, ARP_STATS_SLOTS);
} arp_stats SEC(".maps");

static __always_inline int pass(struct arp_stats *st)
{
	if (st)
		st->passed++;
	return XDP_PASS;
}

SEC("xdp")
int arp_responder(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 ifindex = ctx->ingress_ifindex;
	__u32 slot = ifindex < ARP_STATS_SLOTS ? ifindex : 0;
	struct arp_stats *st = bpf_map_lookup_elem(&arp_stats, &slot);
	if (st)
		st->rx++; /* per-CPU slot: no atomics needed */

	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return pass(st);
	if (eth->h_proto != bpf_htons(ETH_P_ARP))
		return pass(st);

	struct arp_eth_ipv4 *arp = (void *)(eth + 1);
	if ((void *)(arp + 1) > data_end)
		return pass(st);
	if (arp->hrd != bpf_htons(ARPHRD_ETHER) || arp->pro != bpf_htons(ETH_P_IP) || arp->hln != ETH_ALEN ||
	    arp->pln != 4 || arp->op != bpf_htons(ARPOP_REQUEST))
		return pass(st);

	struct arp_key key = {};
	__builtin_memcpy(&key.ip, arp->tpa, 4);
	__u32 spa;
	__builtin_memcpy(&spa, arp->spa, 4);
	/* Gratuitous ARP and address probes (sender 0.0.0.0, RFC 5227) are announcements, not questions for us. */
	if (spa == key.ip || spa == 0)
		return pass(st);

	__u32 *scope = bpf_map_lookup_elem(&arp_scope, &ifindex);
	key.scope = scope ? *scope : ifindex;
	struct arp_val *val = bpf_map_lookup_elem(&arp_table, &key);
	if (!val) {
		if (st)
			st->arp_missed++;
		return pass(st);
	}

	/* Request -> reply, in place (RFC 826): the asker becomes the target, the looked-up MAC the sender. */
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, val->mac, ETH_ALEN);
	arp->op = bpf_htons(ARPOP_REPLY);
	__builtin_memcpy(arp->tha, arp->sha, ETH_ALEN);
	__builtin_memcpy(arp->tpa, &spa, 4);
	__builtin_memcpy(arp->sha, val->mac, ETH_ALEN);
	__builtin_memcpy(arp->spa, &key.ip, 4);
	if (st)
		st->arp_replied++;
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
