#include "xdp_link.h"

#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "sys_error.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif

namespace alcor {

namespace {

class NetlinkSocket {
 public:
  NetlinkSocket() {
    fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd_ < 0) ThrowSys("socket(AF_NETLINK, NETLINK_ROUTE)", errno);
    int one = 1;
    // Extended acks carry the kernel's human-readable reason ("native and generic XDP can't be active ...").
    setsockopt(fd_, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
    sockaddr_nl addr{};
    addr.nl_family = AF_NETLINK;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
      int err = errno;
      close(fd_);
      ThrowSys("bind(AF_NETLINK)", err);
    }
  }
  ~NetlinkSocket() { close(fd_); }
  NetlinkSocket(const NetlinkSocket&) = delete;
  NetlinkSocket& operator=(const NetlinkSocket&) = delete;

  // Sends one request and collects the replies up to the ack / NLMSG_DONE. Throws on an error ack.
  std::vector<std::vector<uint8_t>> Transact(std::vector<uint8_t>& req, const std::string& what) {
    auto* hdr = reinterpret_cast<nlmsghdr*>(req.data());
    hdr->nlmsg_len = static_cast<uint32_t>(req.size());
    hdr->nlmsg_seq = ++seq_;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (sendto(fd_, req.data(), req.size(), 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
      ThrowSys("sendto(netlink " + what + ")", errno);
    }
    std::vector<std::vector<uint8_t>> replies;
    std::vector<uint8_t> buf(65536);
    while (true) {
      ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        ThrowSys("recv(netlink " + what + ")", errno);
      }
      for (auto* nh = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(nh, static_cast<uint32_t>(n));
           nh = NLMSG_NEXT(nh, n)) {
        if (nh->nlmsg_seq != seq_) continue;
        if (nh->nlmsg_type == NLMSG_DONE) return replies;
        if (nh->nlmsg_type == NLMSG_ERROR) {
          auto* e = static_cast<nlmsgerr*>(NLMSG_DATA(nh));
          if (e->error == 0) return replies;
          ThrowSys(what, -e->error, ExtAckMessage(nh));
        }
        const auto* p = reinterpret_cast<const uint8_t*>(nh);
        replies.emplace_back(p, p + nh->nlmsg_len);
        if ((nh->nlmsg_flags & NLM_F_MULTI) == 0) return replies;
      }
    }
  }

 private:
  static std::string ExtAckMessage(const nlmsghdr* nh) {
    if ((nh->nlmsg_flags & NLM_F_ACK_TLVS) == 0) return "";
    const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(nh));
    // Without NLM_F_CAPPED the original request is echoed after the nlmsgerr header.
    size_t offset = sizeof(nlmsgerr);
    if ((nh->nlmsg_flags & NLM_F_CAPPED) == 0) offset += e->msg.nlmsg_len - sizeof(nlmsghdr);
    const auto* start = reinterpret_cast<const uint8_t*>(e) + offset;
    const auto* end = reinterpret_cast<const uint8_t*>(nh) + nh->nlmsg_len;
    while (start + sizeof(nlattr) <= end) {
      const auto* a = reinterpret_cast<const nlattr*>(start);
      if (a->nla_len < sizeof(nlattr) || start + a->nla_len > end) break;
      if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
        const char* s = reinterpret_cast<const char*>(a) + NLA_HDRLEN;
        return std::string(s, strnlen(s, a->nla_len - NLA_HDRLEN));
      }
      start += NLA_ALIGN(a->nla_len);
    }
    return "";
  }

  int fd_ = -1;
  uint32_t seq_ = 0;
};

void PutAttr(std::vector<uint8_t>& msg, uint16_t type, const void* data, size_t len) {
  size_t at = msg.size();
  msg.resize(at + NLA_ALIGN(NLA_HDRLEN + len), 0);
  auto* a = reinterpret_cast<nlattr*>(msg.data() + at);
  a->nla_type = type;
  a->nla_len = static_cast<uint16_t>(NLA_HDRLEN + len);
  if (len > 0) std::memcpy(msg.data() + at + NLA_HDRLEN, data, len);
}

std::vector<uint8_t> LinkRequest(uint16_t type, uint16_t flags, int ifindex) {
  std::vector<uint8_t> msg(NLMSG_SPACE(sizeof(ifinfomsg)), 0);
  auto* hdr = reinterpret_cast<nlmsghdr*>(msg.data());
  hdr->nlmsg_type = type;
  hdr->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
  auto* ifi = static_cast<ifinfomsg*>(NLMSG_DATA(hdr));
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  return msg;
}

void SetXdp(int ifindex, int progFd, uint32_t flags) {
  std::vector<uint8_t> msg = LinkRequest(RTM_SETLINK, NLM_F_ACK, ifindex);
  std::vector<uint8_t> nested;
  PutAttr(nested, IFLA_XDP_FD, &progFd, sizeof progFd);
  PutAttr(nested, IFLA_XDP_FLAGS, &flags, sizeof flags);
  PutAttr(msg, IFLA_XDP | NLA_F_NESTED, nested.data(), nested.size());
  NetlinkSocket nl;
  nl.Transact(msg, progFd < 0 ? "netlink RTM_SETLINK(IFLA_XDP detach)" : "netlink RTM_SETLINK(IFLA_XDP attach)");
}

const char* ModeName(uint8_t attached) {
  switch (attached) {
    case XDP_ATTACHED_NONE: return "none";
    case XDP_ATTACHED_DRV: return "native";
    case XDP_ATTACHED_SKB: return "generic";
    case XDP_ATTACHED_HW: return "offload";
    case XDP_ATTACHED_MULTI: return "multi";
    default: return "unknown";
  }
}

}  // namespace

int ResolveIfindex(const std::string& ifname) {
  if (ifname.empty()) ThrowInput("ENODEV", "interface name is empty");
  if (ifname.find_first_not_of("0123456789") == std::string::npos && ifname.size() < 10) {
    int idx = std::stoi(ifname);
    char name[IF_NAMESIZE];
    if (idx <= 0 || if_indextoname(static_cast<unsigned>(idx), name) == nullptr) {
      ThrowSys("if_indextoname(" + ifname + ")", ENODEV, "no interface with ifindex " + ifname);
    }
    return idx;
  }
  if (ifname.size() >= IF_NAMESIZE) ThrowInput("ENODEV", "interface name '" + ifname + "' is too long");
  unsigned idx = if_nametoindex(ifname.c_str());
  if (idx == 0) ThrowSys("if_nametoindex(" + ifname + ")", errno == 0 ? ENODEV : errno, "interface '" + ifname + "' not found");
  return static_cast<int>(idx);
}

std::string XdpAttach(int ifindex, int progFd, XdpMode mode, std::string* nativeError) {
  if (progFd < 0) ThrowInput("EBADF", "xdp attach: program fd must be a non-negative integer");
  switch (mode) {
    case XdpMode::kNative:
      SetXdp(ifindex, progFd, XDP_FLAGS_DRV_MODE);
      return "native";
    case XdpMode::kGeneric:
      SetXdp(ifindex, progFd, XDP_FLAGS_SKB_MODE);
      return "generic";
    case XdpMode::kAuto:
      try {
        SetXdp(ifindex, progFd, XDP_FLAGS_DRV_MODE);
        return "native";
      } catch (const OpError& e) {
        if (nativeError != nullptr) *nativeError = e.what();
      }
      SetXdp(ifindex, progFd, XDP_FLAGS_SKB_MODE);
      return "generic";
  }
  return "none";
}

XdpState XdpQuery(int ifindex) {
  std::vector<uint8_t> msg = LinkRequest(RTM_GETLINK, 0, ifindex);
  uint32_t filter = RTEXT_FILTER_SKIP_STATS;
  PutAttr(msg, IFLA_EXT_MASK, &filter, sizeof filter);
  NetlinkSocket nl;
  auto replies = nl.Transact(msg, "netlink RTM_GETLINK");
  XdpState st;
  st.mode = "none";
  st.ifindex = ifindex;
  for (const auto& r : replies) {
    const auto* nh = reinterpret_cast<const nlmsghdr*>(r.data());
    if (nh->nlmsg_type != RTM_NEWLINK) continue;
    const auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(nh));
    int len = static_cast<int>(nh->nlmsg_len) - static_cast<int>(NLMSG_LENGTH(sizeof(ifinfomsg)));
    for (const rtattr* a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
      if ((a->rta_type & NLA_TYPE_MASK) != IFLA_XDP) continue;
      int nlen = static_cast<int>(RTA_PAYLOAD(a));
      for (const rtattr* x = static_cast<const rtattr*>(RTA_DATA(a)); RTA_OK(x, nlen); x = RTA_NEXT(x, nlen)) {
        if (x->rta_type == IFLA_XDP_ATTACHED) st.mode = ModeName(*static_cast<const uint8_t*>(RTA_DATA(x)));
        if (x->rta_type == IFLA_XDP_PROG_ID) std::memcpy(&st.progId, RTA_DATA(x), sizeof st.progId);
      }
    }
  }
  return st;
}

std::string XdpDetach(int ifindex) {
  XdpState st = XdpQuery(ifindex);
  if (st.mode == "none") return "none";
  if (st.mode == "native" || st.mode == "multi") SetXdp(ifindex, -1, XDP_FLAGS_DRV_MODE);
  if (st.mode == "generic" || st.mode == "multi") SetXdp(ifindex, -1, XDP_FLAGS_SKB_MODE);
  if (st.mode == "offload") SetXdp(ifindex, -1, XDP_FLAGS_HW_MODE);
  return st.mode;
}

}  // namespace alcor
