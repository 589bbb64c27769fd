// Running a piece of work inside another network namespace.
//
// setns(CLONE_NEWNET) only moves the calling thread, and a thread left in the wrong namespace would poison whatever
// runs on it next (the libuv pool or the JS thread). So the work runs on a fresh, short-lived std::thread that enters
// the namespace and then ends; no thread that outlives the call ever changes namespace. Costs ~50 µs per call, which
// is fine for attach/detach/socket-open (never used for per-packet or per-entry work).
#pragma once
#include <exception>
#include <functional>
#include <string>
#include <thread>

namespace alcor {

// "" = current namespace; a name without '/' means /var/run/netns/NAME (what `ip netns add` creates); else a path
// such as /proc/PID/ns/net.
std::string NetnsPath(const std::string& netns);

void RunInNetns(const std::string& netns, const std::function<void()>& work);

}  // namespace alcor
