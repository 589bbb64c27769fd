#include "packet_socket.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netns.h"
#include "sys_error.h"
#include "xdp_link.h"

namespace alcor {

PacketSocket PacketOpen(const std::string& ifname, const std::string& netns, uint16_t protocol) {
  PacketSocket s;
  RunInNetns(netns, [&] {
    int ifindex = ResolveIfindex(ifname);
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(protocol));
    if (fd < 0) ThrowSys("socket(AF_PACKET, SOCK_RAW)", errno);
    sockaddr_ll addr{};
    addr.sll_family = AF_PACKET;
    addr.sll_protocol = htons(protocol);
    addr.sll_ifindex = ifindex;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
      int err = errno;
      close(fd);
      ThrowSys("bind(AF_PACKET, " + ifname + ")", err);
    }
    s.fd = fd;
    s.ifindex = ifindex;
  });
  return s;
}

void PacketSend(int fd, const uint8_t* frame, size_t len) {
  if (len < ETH_HLEN) ThrowInput("EBADFRAME", "packet send: frame is " + std::to_string(len) + " bytes, shorter than an Ethernet header");
  ssize_t n = send(fd, frame, len, 0);
  if (n < 0) ThrowSys("send(AF_PACKET)", errno);
}

bool PacketRecv(int fd, std::vector<uint8_t>& frame, bool includeOutgoing) {
  frame.resize(65536);
  while (true) {
    sockaddr_ll from{};
    socklen_t fromLen = sizeof from;
    ssize_t n = recvfrom(fd, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&from), &fromLen);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
      if (errno == EINTR) continue;
      ThrowSys("recvfrom(AF_PACKET)", errno);
    }
    if (!includeOutgoing && from.sll_pkttype == PACKET_OUTGOING) continue;
    frame.resize(static_cast<size_t>(n));
    return true;
  }
}

}  // namespace alcor
