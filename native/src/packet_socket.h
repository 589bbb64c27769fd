// AF_PACKET raw sockets bound to one interface: send and receive whole Ethernet frames (ARP/DHCP punting, tests).
// Sockets are non-blocking; the addon watches them with libuv so receiving never blocks the JS thread.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace alcor {

struct PacketSocket {
  int fd = -1;
  int ifindex = 0;
};

// protocol: ethertype in host order (0x0003 = ETH_P_ALL). netns: see netns.h.
PacketSocket PacketOpen(const std::string& ifname, const std::string& netns, uint16_t protocol);
void PacketSend(int fd, const uint8_t* frame, size_t len);
// False when nothing is waiting. Frames this socket's host sent (PACKET_OUTGOING) are skipped unless asked for.
bool PacketRecv(int fd, std::vector<uint8_t>& frame, bool includeOutgoing);

}  // namespace alcor
