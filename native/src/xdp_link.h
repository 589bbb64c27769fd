// Attaching XDP programs to interfaces over rtnetlink (RTM_SETLINK with IFLA_XDP), as `ip link set dev X xdp ...`
// does. Netlink attachments outlive this process, which is what an agent restart wants: the program keeps serving
// from the pinned maps while the agent is down, and the new agent simply replaces it.
#pragma once
#include <cstdint>
#include <string>

namespace alcor {

enum class XdpMode { kAuto, kNative, kGeneric };

struct XdpState {
  std::string mode;  // "none" | "native" | "generic" | "offload" | "multi"
  uint32_t progId = 0;
  int ifindex = 0;
};

// Resolve a name or decimal ifindex in the CURRENT thread's namespace; throws ENODEV with the name.
int ResolveIfindex(const std::string& ifname);

// Returns the mode actually used ("native" or "generic"). kAuto tries native first, then generic.
std::string XdpAttach(int ifindex, int progFd, XdpMode mode, std::string* nativeError);
// Detaches whatever is attached (in its mode); returns the mode that was detached or "none".
std::string XdpDetach(int ifindex);
XdpState XdpQuery(int ifindex);

}  // namespace alcor
