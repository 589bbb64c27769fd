/* XDP program that passes every frame. Attach it (native mode) to the peer of a veth that runs arp_responder in
 * native mode: veth delivers XDP_TX frames through the peer's NAPI queue, which only exists while the peer has an
 * XDP program, so without this the replies are silently dropped. Generic-mode XDP has no such requirement. */
#include "bpf_min.h"

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
