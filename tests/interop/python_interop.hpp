#pragma once
// Runs tests/interop/codec_interop.py, the Python side of the codec interop
// tests, with the system interpreter (/usr/bin/python3 and its python3-msgpack,
// not whatever `python3` is first on PATH), and the GoogleTest check that
// both sides agree on a case.

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <string>
#include <string_view>
#include <sys/wait.h>

namespace dogpile_test {

struct PythonResult {
    int status = -1;     // exit status; 3: python3-msgpack missing, 127: no interpreter
    std::string output;  // stdout and stderr
};

inline std::string to_hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string hex;
    for (const char c : bytes) {
        const auto byte = static_cast<unsigned char>(c);
        hex += digits[byte >> 4];
        hex += digits[byte & 0x0f];
    }
    return hex;
}

inline std::string from_hex(std::string_view hex) {
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    std::string bytes;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        const int high = nibble(hex[i]);
        const int low = nibble(hex[i + 1]);
        if (high < 0 || low < 0) break;
        bytes += static_cast<char>(high * 16 + low);
    }
    return bytes;
}

// `args` must be shell-safe (case names and hex strings are).
inline PythonResult run_codec_interop(const std::string& args) {
    const std::string command =
        "/usr/bin/python3 " DOGPILE_SOURCE_DIR "/tests/interop/codec_interop.py " + args + " 2>&1";
    PythonResult result;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (!pipe) {
        result.output = "popen failed for: " + command;
        return result;
    }
    std::array<char, 4096> buffer{};
    std::size_t got = 0;
    while ((got = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) result.output.append(buffer.data(), got);
    const int raw = ::pclose(pipe);
    result.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    if (result.status == 127) result.output += "\n/usr/bin/python3 not found: apt-get install python3 python3-msgpack";
    while (!result.output.empty() && (result.output.back() == '\n' || result.output.back() == '\r')) {
        result.output.pop_back();
    }
    return result;
}

// The bytes Python writes for `case_name`; empty (and a test failure message
// in `error`) when the script failed.
inline std::string python_emit(const std::string& case_name, std::string& error) {
    const PythonResult result = run_codec_interop("emit " + case_name);
    if (result.status != 0) {
        error =
            "codec_interop.py emit " + case_name + " exited " + std::to_string(result.status) + ": " + result.output;
        return {};
    }
    return from_hex(result.output);
}

// Python reads what `codec` writes for `value` as case `case_name`, C++ reads
// what Python writes for it, and the bytes are the same.
template <class Codec, class Value>
void expect_python_agrees(const std::string& case_name, const Codec& codec, const Value& value) {
    const std::string cpp_bytes = codec.encode(value);
    const PythonResult checked = run_codec_interop("check " + case_name + " " + to_hex(cpp_bytes));
    EXPECT_EQ(checked.status, 0) << "Python could not read C++'s bytes " << to_hex(cpp_bytes) << ": " << checked.output;

    std::string error;
    const std::string python_bytes = python_emit(case_name, error);
    ASSERT_TRUE(error.empty()) << error;
    EXPECT_EQ(codec.decode(python_bytes), value);
    // Both write the smallest encodings, so the bytes are identical too.
    EXPECT_EQ(to_hex(python_bytes), to_hex(cpp_bytes));
}

}  // namespace dogpile_test
