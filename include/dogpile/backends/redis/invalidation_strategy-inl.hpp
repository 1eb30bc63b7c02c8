#pragma once
// Definitions of invalidation_strategy.hpp (details/linkage.hpp: inline when header-only).

#include <charconv>
#include <system_error>

#include "../../errors.hpp"
#include "../../redis/command.hpp"
#include "../../redis/reply.hpp"
#include "../../redis/script.hpp"
#include "invalidation_strategy.hpp"

namespace dogpile {

DOGPILE_INLINE std::string RedisInvalidationOptions::redis_key() const {
    return key ? *key : "dogpile:invalidation:" + region_name;
}

DOGPILE_INLINE void RedisInvalidationOptions::validate() const {
    if (!client) throw ConfigurationError("RedisInvalidationStrategy: options.client must not be null");
    if (key ? key->empty() : region_name.empty()) {
        throw ConfigurationError(
            "RedisInvalidationStrategy: set options.region_name (or options.key) to the name the processes share");
    }
    if (refresh_interval.count() < 1) {
        throw ConfigurationError("RedisInvalidationStrategy: refresh_interval must be at least 1 ms");
    }
}

}  // namespace dogpile

namespace dogpile::redis {

namespace details {

// Keeps the later of the stored and the given time. Both are decimal digit
// strings: compared by length then text, as Lua numbers (doubles) would
// round nanosecond times.
DOGPILE_INLINE const Script& invalidation_max_script() {
    static const Script script(R"lua(-- dogpile invalidation-max v1
local old = redis.call('HGET', KEYS[1], ARGV[1])
local new = ARGV[2]
if old and (#old > #new or (#old == #new and old >= new)) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], new)
return 1
)lua");
    return script;
}

DOGPILE_INLINE const char* invalidation_field(Invalidation kind) noexcept {
    return kind == Invalidation::hard ? "hard" : "soft";
}

DOGPILE_INLINE std::optional<TimePoint> parse_invalidation_time(const std::optional<std::string>& stored,
                                                                const std::string& key, const char* field) {
    if (!stored) return std::nullopt;
    long long nanoseconds = 0;
    const char* end = stored->data() + stored->size();
    const auto [ptr, ec] = std::from_chars(stored->data(), end, nanoseconds);
    if (ec != std::errc() || ptr != end || nanoseconds <= 0) {
        throw BackendError("RedisInvalidationStrategy: " + key + " field " + field + " holds '" + *stored +
                           "', not a time in nanoseconds");
    }
    // Up, where the clock is coarser than a nanosecond: an entry created in
    // the same tick as the invalidation counts as invalidated.
    return TimePoint(std::chrono::ceil<Duration>(std::chrono::nanoseconds(nanoseconds)));
}

}  // namespace details

DOGPILE_INLINE RedisInvalidationStrategy::RedisInvalidationStrategy(RedisInvalidationOptions options)
    : RegionInvalidationStrategy((options.validate(), options.refresh_interval)),
      client_(std::move(options.client)),
      key_(options.redis_key()) {}

DOGPILE_INLINE void RedisInvalidationStrategy::record(Invalidation kind, TimePoint at) {
    const auto nanoseconds = std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
    if (nanoseconds <= 0) throw BackendError("RedisInvalidationStrategy: an invalidation time before the epoch");
    client_->eval(details::invalidation_max_script(), {key_},
                  {std::string(details::invalidation_field(kind)), std::to_string(nanoseconds)});
}

DOGPILE_INLINE InvalidationTimes RedisInvalidationStrategy::load() {
    const Reply reply = client_->command(key_, Command{"HMGET", key_, "hard", "soft"});
    const auto stored = reply.as_optional_strings();
    if (stored.size() != 2) throw BackendError("RedisInvalidationStrategy: HMGET " + key_ + " answered oddly");
    return InvalidationTimes{details::parse_invalidation_time(stored[0], key_, "hard"),
                             details::parse_invalidation_time(stored[1], key_, "soft")};
}

}  // namespace dogpile::redis
