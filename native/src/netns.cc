#include "netns.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include "sys_error.h"

namespace alcor {

std::string NetnsPath(const std::string& netns) {
  if (netns.empty() || netns.find('/') != std::string::npos) return netns;
  return "/var/run/netns/" + netns;
}

void RunInNetns(const std::string& netns, const std::function<void()>& work) {
  if (netns.empty()) {
    work();
    return;
  }
  std::string path = NetnsPath(netns);
  int nsFd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (nsFd < 0) ThrowSys("open(" + path + ")", errno, "network namespace '" + netns + "' not found");
  std::exception_ptr failure;
  std::thread worker([&] {
    try {
      if (setns(nsFd, CLONE_NEWNET) < 0) ThrowSys("setns(" + path + ", CLONE_NEWNET)", errno);
      work();
    } catch (...) {
      failure = std::current_exception();
    }
  });
  worker.join();
  close(nsFd);
  if (failure) std::rethrow_exception(failure);
}

}  // namespace alcor
