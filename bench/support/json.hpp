#pragma once
// A flat JSON object writer for the tools' --json output (one object, keys in
// insertion order). Values are numbers, booleans, strings or nested objects.

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <type_traits>

namespace dogpile::bench {

class JsonObject {
public:
    JsonObject& add(std::string_view key, std::string_view value) {
        start(key);
        quote(value);
        return *this;
    }
    JsonObject& add(std::string_view key, const char* value) { return add(key, std::string_view(value)); }
    JsonObject& add(std::string_view key, const std::string& value) { return add(key, std::string_view(value)); }
    JsonObject& add(std::string_view key, bool value) {
        start(key);
        out_ += value ? "true" : "false";
        return *this;
    }
    template <class Number, std::enable_if_t<std::is_arithmetic_v<Number> && !std::is_same_v<Number, bool>, int> = 0>
    JsonObject& add(std::string_view key, Number value) {
        start(key);
        if constexpr (std::is_floating_point_v<Number>) {
            if (!std::isfinite(value)) {
                out_ += "null";
                return *this;
            }
            char buffer[32];
            std::snprintf(buffer, sizeof buffer, "%.4f", static_cast<double>(value));
            out_ += buffer;
        } else {
            out_ += std::to_string(value);
        }
        return *this;
    }
    JsonObject& add(std::string_view key, const JsonObject& nested) {
        start(key);
        out_ += nested.str();
        return *this;
    }

    std::string str() const { return out_ + "}"; }

private:
    void start(std::string_view key) {
        out_ += out_.size() > 1 ? ", " : "";
        quote(key);
        out_ += ": ";
    }

    void quote(std::string_view text) {
        out_ += '"';
        for (const char c : text) {
            if (c == '"' || c == '\\') {
                out_ += '\\';
                out_ += c;
            } else if (static_cast<unsigned char>(c) < 0x20) {
                char buffer[8];
                std::snprintf(buffer, sizeof buffer, "\\u%04x", static_cast<unsigned>(c));
                out_ += buffer;
            } else {
                out_ += c;
            }
        }
        out_ += '"';
    }

    std::string out_ = "{";
};

}  // namespace dogpile::bench
