#pragma once
// What the helper programs of the multi-process tests share: their command
// line (`program MODE --name value...`) and dying with the test binary.

#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>

namespace dogpile::test {

struct WorkerArgs {
    std::string mode;
    std::map<std::string, std::string> named;

    const std::string& get(const std::string& name) const {
        auto it = named.find(name);
        if (it == named.end()) throw std::invalid_argument("missing --" + name);
        return it->second;
    }
    long long number(const std::string& name) const {
        const std::string& s = get(name);
        std::size_t used = 0;
        const long long v = std::stoll(s, &used);
        if (used != s.size() || v < 0) throw std::invalid_argument("--" + name + " must be a non-negative number");
        return v;
    }
};

// `usage` is the message for a missing mode.
inline WorkerArgs parse_worker_args(int argc, char** argv, const char* usage) {
    if (argc < 2) throw std::invalid_argument(usage);
    WorkerArgs a;
    a.mode = argv[1];
    for (int i = 2; i < argc; i += 2) {
        const std::string name = argv[i];
        if (name.rfind("--", 0) != 0 || i + 1 >= argc) throw std::invalid_argument("bad argument " + name);
        a.named[name.substr(2)] = argv[i + 1];
    }
    return a;
}

// Dies with the test binary, so a crashed test leaves no workers behind.
inline void die_with_parent(pid_t parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) std::_Exit(1);
}

}  // namespace dogpile::test
