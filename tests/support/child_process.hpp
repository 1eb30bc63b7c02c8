#pragma once
// A helper program run with posix_spawn (fork+exec: a multithreaded test
// binary must not fork without exec). Killed and reaped on destruction.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "wait.hpp"

extern char** environ;

namespace dogpile::test {

class ChildProcess {
public:
    explicit ChildProcess(std::vector<std::string> args) : ChildProcess(std::move(args), "", "") {}

    // With its stdout and stderr written to these files (created or
    // truncated); an empty path leaves that stream as the test's.
    ChildProcess(std::vector<std::string> args, const std::string& stdout_path, const std::string& stderr_path)
        : args_(std::move(args)) {
        std::vector<char*> argv;
        for (auto& a : args_) argv.push_back(a.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        if (!stdout_path.empty()) {
            posix_spawn_file_actions_addopen(&actions, 1, stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        }
        if (!stderr_path.empty()) {
            posix_spawn_file_actions_addopen(&actions, 2, stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        }
        const int rc = ::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0) throw std::runtime_error("posix_spawn " + args_[0] + ": " + std::strerror(rc));
    }
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;
    ~ChildProcess() {
        if (pid_ > 0) kill();
    }

    // The wait status once it exits within `timeout`; std::nullopt otherwise.
    std::optional<int> wait(std::chrono::milliseconds timeout) {
        int status = 0;
        const bool exited = wait_for_condition([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, timeout);
        if (!exited) return std::nullopt;
        pid_ = -1;
        return status;
    }

    // SIGKILL and reap; returns the wait status.
    int kill() {
        ::kill(pid_, SIGKILL);
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        pid_ = -1;
        return status;
    }

private:
    std::vector<std::string> args_;
    pid_t pid_ = -1;
};

inline std::string describe_wait_status(int status) {
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status)) return std::string("killed by signal ") + std::to_string(WTERMSIG(status));
    return "wait status " + std::to_string(status);
}

}  // namespace dogpile::test
