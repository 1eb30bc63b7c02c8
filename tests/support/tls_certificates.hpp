#pragma once
// TlsCertificates: a throwaway PKI for the TLS tests, generated with the
// `openssl` command-line tool in a fresh temporary directory (removed on
// destruction):
//
//   ca_file        the CA every good certificate below chains to
//   server_cert    127.0.0.1 and localhost (SAN IP:127.0.0.1, DNS:localhost)
//   expired_cert   the same names, expired yesterday
//   wrong_host_cert  wrong.example.com only
//   client_cert    for mutual TLS (clientAuth)
//   other_ca_file  an unrelated CA; other_client_cert is signed by it
//
// All server certificates share server_key; tls_server_options()
// (redis_server.hpp) starts a RedisServer with one of them. A missing `openssl` binary or a
// failing command is an exception naming the command and its output: never
// a skip.

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

extern char** environ;

namespace dogpile::test {

class TlsCertificates {
public:
    TlsCertificates() {
        char pattern[] = "/tmp/dogpile-tls-XXXXXX";
        if (::mkdtemp(pattern) == nullptr) throw std::runtime_error(std::string("mkdtemp: ") + std::strerror(errno));
        dir_ = pattern;
        try {
            generate();
        } catch (...) {
            std::error_code ec;
            std::filesystem::remove_all(dir_, ec);
            throw;
        }
    }
    ~TlsCertificates() {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    TlsCertificates(const TlsCertificates&) = delete;
    TlsCertificates& operator=(const TlsCertificates&) = delete;

    // One set per test binary: generating takes a few openssl runs.
    static const TlsCertificates& shared() {
        static const TlsCertificates certificates;
        return certificates;
    }

    const std::string& dir() const noexcept { return dir_; }
    std::string ca_file() const { return path("ca.crt"); }
    std::string other_ca_file() const { return path("other_ca.crt"); }
    std::string server_cert() const { return path("server.crt"); }
    std::string server_key() const { return path("server.key"); }
    std::string expired_cert() const { return path("expired.crt"); }
    std::string wrong_host_cert() const { return path("wrong_host.crt"); }
    std::string client_cert() const { return path("client.crt"); }
    std::string client_key() const { return path("client.key"); }
    std::string other_client_cert() const { return path("other_client.crt"); }
    std::string other_client_key() const { return path("other_client.key"); }

private:
    std::string path(const char* name) const { return dir_ + "/" + name; }

    void generate() {
        {
            std::ofstream config(path("openssl.cnf"));
            config << "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = unused\n"
                      "[ca_ext]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
                      "subjectKeyIdentifier = hash\n"
                      "[server_ext]\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\n"
                      "subjectAltName = IP:127.0.0.1,DNS:localhost\n"
                      "[wrong_host_ext]\nbasicConstraints = CA:FALSE\nextendedKeyUsage = serverAuth\n"
                      "subjectAltName = DNS:wrong.example.com\n"
                      "[client_ext]\nbasicConstraints = CA:FALSE\nextendedKeyUsage = clientAuth\n";
            if (!config) throw std::runtime_error("cannot write " + path("openssl.cnf"));
        }
        make_ca("ca", "dogpile test CA");
        make_ca("other_ca", "unrelated test CA");
        make_request("server", "127.0.0.1");
        sign("server", "ca", "server", "server_ext", "2");
        sign("server", "ca", "expired", "server_ext", "-1");  // notAfter yesterday
        make_request("wrong_host", "wrong.example.com", "server");
        sign("wrong_host", "ca", "wrong_host", "wrong_host_ext", "2");
        make_request("client", "dogpile test client");
        sign("client", "ca", "client", "client_ext", "2");
        make_request("other_client", "untrusted client");
        sign("other_client", "other_ca", "other_client", "client_ext", "2");
    }

    void make_ca(const std::string& name, const std::string& subject) {
        openssl({"req", "-x509", "-config", path("openssl.cnf"), "-extensions", "ca_ext", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", path((name + ".key").c_str()), "-out",
                 path((name + ".crt").c_str()), "-days", "2", "-subj", "/CN=" + subject});
    }

    // A new key <name>.key, or the existing <reuse_key>.key.
    void make_request(const std::string& name, const std::string& common_name, const std::string& reuse_key = {}) {
        std::vector<std::string> args{"req", "-new", "-config", path("openssl.cnf"), "-nodes"};
        if (reuse_key.empty()) {
            args.insert(args.end(), {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-keyout",
                                     path((name + ".key").c_str())});
        } else {
            args.insert(args.end(), {"-key", path((reuse_key + ".key").c_str())});
        }
        args.insert(args.end(), {"-out", path((name + ".csr").c_str()), "-subj", "/CN=" + common_name});
        openssl(std::move(args));
    }

    void sign(const std::string& request, const std::string& ca, const std::string& out, const std::string& extensions,
              const std::string& days) {
        openssl({"x509", "-req", "-in", path((request + ".csr").c_str()), "-CA", path((ca + ".crt").c_str()), "-CAkey",
                 path((ca + ".key").c_str()), "-CAcreateserial", "-out", path((out + ".crt").c_str()), "-days", days,
                 "-extfile", path("openssl.cnf"), "-extensions", extensions});
    }

    void openssl(std::vector<std::string> args) const {
        args.insert(args.begin(), "openssl");
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        const std::string log = path("openssl.log");
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        posix_spawn_file_actions_adddup2(&actions, 1, 2);
        pid_t pid = -1;
        const int rc = ::posix_spawnp(&pid, "openssl", &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        std::string command;
        for (const auto& a : args) command += (command.empty() ? "" : " ") + a;
        if (rc != 0) {
            throw std::runtime_error("cannot run `openssl` (" + std::string(std::strerror(rc)) +
                                     "): the TLS tests generate their certificates with it; install it with "
                                     "`apt-get install openssl` (or run scripts/setup.sh)");
        }
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            std::ifstream in(log);
            std::stringstream output;
            output << in.rdbuf();
            throw std::runtime_error("`" + command + "` failed (wait status " + std::to_string(status) + "):\n" +
                                     output.str());
        }
    }

    std::string dir_;
};

}  // namespace dogpile::test

// tls_server_options() lives with RedisServer, which includes this header for
// its shared TLS mode; included last so either header may come first.
#include "redis_server.hpp"
