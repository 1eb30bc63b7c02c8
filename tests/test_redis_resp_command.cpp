// append_resp_command writes what hiredis' redisFormatCommandArgv writes, byte
// for byte: the connection formats every command itself, so any difference
// would be a desynchronised or corrupted command on the wire.

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <cstddef>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <dogpile/redis/command.hpp>
#include <dogpile/redis/details/resp_command.hpp>

namespace {

using dogpile::redis::details::append_resp_command;

std::string hiredis_format(const std::vector<std::string>& args) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (const auto& a : args) {
        argv.push_back(a.data());
        lengths.push_back(a.size());
    }
    char* formatted = nullptr;
    const int length = redisFormatCommandArgv(&formatted, static_cast<int>(argv.size()), argv.data(), lengths.data());
    EXPECT_GT(length, 0);
    std::string out(formatted, static_cast<std::size_t>(length));
    redisFreeCommand(formatted);
    return out;
}

std::string ours(const std::vector<std::string>& args) {
    std::string out;
    append_resp_command(out, args.size(), [&args](std::size_t i) { return std::string_view(args[i]); });
    return out;
}

TEST(RespCommand, MatchesHiredisForEdgeCaseArguments) {
    const std::vector<std::vector<std::string>> commands = {
        {"PING"},
        {"GET", ""},
        {"SET", std::string("a\0b", 3), "line\r\nbreak"},
        {"HMGET", "hash", std::string(9, 'x'), std::string(10, 'y'), std::string(99, 'z'), std::string(100, 'w')},
        {"SET", "big", std::string(100'000, '\xff')},
    };
    for (const auto& command : commands) EXPECT_EQ(ours(command), hiredis_format(command));
}

TEST(RespCommand, MatchesHiredisForEveryArgumentCountUpTo1000) {
    std::mt19937 random(20261201);
    for (std::size_t argc : {1, 2, 9, 10, 11, 99, 100, 101, 999, 1000}) {
        std::vector<std::string> args(argc);
        for (auto& a : args) {
            a.resize(random() % 40);
            for (auto& c : a) c = static_cast<char>(random());
        }
        EXPECT_EQ(ours(args), hiredis_format(args)) << argc << " arguments";
    }
}

TEST(RespCommand, AppendsAfterWhatTheBufferHolds) {
    std::string out = "*1\r\n$4\r\nPING\r\n";
    const dogpile::redis::Command get{"GET", "key"};
    append_resp_command(out, get.size(), [&get](std::size_t i) { return get[i]; });
    EXPECT_EQ(out, "*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n");
}

}  // namespace
