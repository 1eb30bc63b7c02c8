#pragma once
// Definitions of sentinel_discovery.hpp (details/linkage.hpp: inline when header-only).

#include <exception>

#include "sentinel_discovery.hpp"

namespace dogpile::redis::details {

DOGPILE_INLINE bool is_master(Connection& connection) {
    const Reply role = connection.command({"ROLE"});
    return role.is_array() && role.size() > 0 && role.at(0).is_string() && role.at(0).view() == "master";
}

DOGPILE_INLINE std::string SentinelDiscovery::last_error() const {
    std::lock_guard<std::mutex> lock(error_mutex_);
    return last_error_;
}

DOGPILE_INLINE std::optional<NodeAddress> SentinelDiscovery::ask(const NodeAddress& sentinel,
                                                                 std::string& errors) const {
    try {
        Connection connection(options_.sentinel_connection_to(sentinel));
        const Reply reply = connection.command({"SENTINEL", "GET-MASTER-ADDR-BY-NAME", options_.master_name});
        if (reply.is_nil() || !reply.is_array() || reply.size() != 2) {
            errors += sentinel.to_string() + " does not know '" + options_.master_name + "'; ";
            return std::nullopt;
        }
        return NodeAddress{reply.at(0).as_string(), std::stoi(reply.at(1).as_string())};
    } catch (const AuthError&) {
        throw;
    } catch (const std::exception& e) {
        errors += "sentinel " + sentinel.to_string() + ": " + e.what() + "; ";
        return std::nullopt;
    }
}

DOGPILE_INLINE bool SentinelDiscovery::confirm(const NodeAddress& sentinel, const NodeAddress& named,
                                               std::string& errors) {
    try {
        Connection probe(named.apply_to(options_.pool.connection));
        if (is_master(probe)) return true;
        counters_.add(&SentinelStats::role_mismatches);
        errors += sentinel.to_string() + " named " + named.to_string() + ", which is not a master; ";
    } catch (const AuthError&) {
        throw;
    } catch (const std::exception& e) {
        errors += named.to_string() + " (named by " + sentinel.to_string() + "): " + e.what() + "; ";
    }
    return false;
}

DOGPILE_INLINE void SentinelDiscovery::set_last_error(std::string error) {
    std::lock_guard<std::mutex> lock(error_mutex_);
    last_error_ = std::move(error);
}

}  // namespace dogpile::redis::details
