#pragma once
/// @file
/// PrometheusText: one scrape body in the Prometheus text exposition format
/// (version 0.0.4), assembled from any number of sources (docs/metrics.md).
///
/// The format wants every line of a metric family in one group, under one
/// `# HELP` and one `# TYPE` line. Sources are appended one after another
/// (every family of region "users", then every family of region "flags"), so
/// the writer keeps one buffer per family and joins them in str(): two
/// regions' hit counters end up under one header, whatever the order of the
/// calls. It also refuses what a Prometheus server would reject at scrape
/// time (an invalid name, a family under two types, the same series twice)
/// with std::invalid_argument, so a wrong name fails the first test that
/// scrapes, not the dashboard.
///
/// Not thread-safe: build one per scrape.

#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

/// Exporting the library's statistics for metrics systems (docs/metrics.md).
namespace dogpile::metrics {

/// One label of a series: a name (`[a-zA-Z_][a-zA-Z0-9_]*`, not starting
/// with `__`, never `le`) and any value (escaped on output).
struct Label {
    std::string_view name;   ///< The label's name.
    std::string_view value;  ///< The label's value, any bytes.
};

/// The labels of one series, in the order they are written.
using Labels = std::vector<Label>;

/// One bucket of a histogram as the caller counts it: the observations that
/// fell in this bucket only (not cumulative), up to `upper_bound` inclusive.
struct HistogramBucket {
    double upper_bound;   ///< In the metric's base unit; +infinity for an overflow bucket.
    std::uint64_t count;  ///< Observations in this bucket alone.
};

/// The three metric types this library exports.
enum class MetricType {
    counter,    ///< Only goes up (reset on restart); the name ends in `_total`.
    gauge,      ///< A value that goes up and down.
    histogram,  ///< Observations counted into buckets, with their sum and count.
};

/// The type's name on a `# TYPE` line.
inline const char* to_string(MetricType type) noexcept {
    switch (type) {
        case MetricType::counter: return "counter";
        case MetricType::gauge: return "gauge";
        case MetricType::histogram: return "histogram";
    }
    return "untyped";
}

/// One counter field of a statistics struct, for PrometheusText::counters().
template <class Stats>
struct CounterField {
    std::uint64_t Stats::*field;  ///< The member read.
    const char* name;             ///< The metric's name, ending in `_total`.
    const char* help;             ///< Its HELP text.
};

/// A scrape body under construction; see the file comment.
class PrometheusText {
public:
    /// The media type to send with str() (`Content-Type` of the HTTP reply).
    static constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

    /// Adds one counter sample. `name` must end in `_total` (the convention
    /// for counters); `help` is written once per family, from its first call.
    void counter(std::string_view name, std::string_view help, const Labels& labels, std::uint64_t value) {
        if (name.size() < 6 || name.substr(name.size() - 6) != "_total") {
            throw std::invalid_argument("PrometheusText: counter " + std::string(name) + " must end in _total");
        }
        sample(family(name, help, MetricType::counter), name, labels, format_value(value));
    }

    /// Adds one counter sample per field of `stats` (a table of CounterField),
    /// each with the same labels.
    template <class Stats, class Fields>
    void counters(const Fields& fields, const Labels& labels, const Stats& stats) {
        for (const CounterField<Stats>& f : fields) counter(f.name, f.help, labels, stats.*(f.field));
    }

    /// Adds one gauge sample.
    void gauge(std::string_view name, std::string_view help, const Labels& labels, double value) {
        sample(family(name, help, MetricType::gauge), name, labels, format_value(value));
    }

    /// Adds one histogram series: `name_bucket` lines with cumulative counts
    /// (a `+Inf` bucket is added when the last bound is finite), `name_sum`
    /// and `name_count`. Bounds must increase strictly.
    void histogram(std::string_view name, std::string_view help, const Labels& labels,
                   const std::vector<HistogramBucket>& buckets, double sum) {
        Family& f = family(name, help, MetricType::histogram);
        const std::string base(name);
        std::uint64_t cumulative = 0;
        double previous = -std::numeric_limits<double>::infinity();
        Labels with_le = labels;
        with_le.push_back({"le", {}});
        auto bucket_line = [&](double bound) {
            const std::string le = format_value(bound);
            with_le.back().value = le;
            sample(f, base + "_bucket", with_le, format_value(cumulative), true);
        };
        for (const HistogramBucket& b : buckets) {
            if (!(b.upper_bound > previous)) {
                throw std::invalid_argument("PrometheusText: histogram " + base + ": bucket bounds must increase");
            }
            previous = b.upper_bound;
            cumulative += b.count;
            bucket_line(b.upper_bound);
        }
        if (!std::isinf(previous) || previous < 0) bucket_line(std::numeric_limits<double>::infinity());
        sample(f, base + "_sum", labels, format_value(sum), true);
        sample(f, base + "_count", labels, format_value(cumulative), true);
    }

    /// The body: every family's `# HELP`, `# TYPE` and samples, families in
    /// the order they were first added. Empty when nothing was added.
    std::string str() const {
        std::string out;
        for (const Family& f : families_) {
            out += "# HELP ";
            out += f.name;
            out += ' ';
            out += escape_help(f.help);
            out += "\n# TYPE ";
            out += f.name;
            out += ' ';
            out += to_string(f.type);
            out += '\n';
            out += f.body;
        }
        return out;
    }

    /// A label value as the format writes it between the quotes: backslash,
    /// double quote and line feed escaped.
    static std::string escape_label_value(std::string_view value) { return escape(value, true); }

    /// A HELP text as the format writes it: backslash and line feed escaped.
    static std::string escape_help(std::string_view help) { return escape(help, false); }

    /// A sample value: integers exactly, other numbers in the shortest form
    /// that reads back the same, `+Inf`, `-Inf` and `NaN` as the format spells them.
    static std::string format_value(double value) {
        if (std::isnan(value)) return "NaN";
        if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
        char buffer[64];
        const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
        return std::string(buffer, result.ptr);
    }

    /// A counter value, exactly (a double would round above 2^53).
    static std::string format_value(std::uint64_t value) {
        char buffer[24];
        const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
        return std::string(buffer, result.ptr);
    }

private:
    struct Family {
        std::string name;
        std::string help;
        MetricType type;
        std::string body;
        std::set<std::string> series;  // sample name + labels, to refuse duplicates
    };

    // The format's escapes: backslash and line feed always, the double quote
    // only between a label value's quotes.
    static std::string escape(std::string_view text, bool quote) {
        std::string out;
        out.reserve(text.size());
        for (char c : text) {
            if (c == '\\') {
                out += "\\\\";
            } else if (c == '\n') {
                out += "\\n";
            } else if (quote && c == '"') {
                out += "\\\"";
            } else {
                out += c;
            }
        }
        return out;
    }

    static bool is_name_start(char c, bool colon) noexcept {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
    }
    static bool is_valid_name(std::string_view name, bool colon) noexcept {
        if (name.empty() || !is_name_start(name.front(), colon)) return false;
        for (char c : name) {
            if (!is_name_start(c, colon) && !(c >= '0' && c <= '9')) return false;
        }
        return true;
    }

    Family& family(std::string_view name, std::string_view help, MetricType type) {
        const auto found = index_.find(name);
        if (found != index_.end()) {
            Family& f = families_[found->second];
            if (f.type != type) {
                throw std::invalid_argument("PrometheusText: " + std::string(name) + " added as " + to_string(type) +
                                            ", already a " + to_string(f.type));
            }
            return f;
        }
        if (!is_valid_name(name, true)) {
            throw std::invalid_argument("PrometheusText: invalid metric name '" + std::string(name) + "'");
        }
        families_.push_back(Family{std::string(name), std::string(help), type, {}, {}});
        index_.emplace(std::string(name), families_.size() - 1);
        return families_.back();
    }

    // `le_allowed`: the histogram's own bucket label, which a caller may not pass.
    static void sample(Family& f, std::string_view name, const Labels& labels, const std::string& value,
                       bool le_allowed = false) {
        std::string line(name);
        if (!labels.empty()) {
            line += '{';
            for (std::size_t i = 0; i < labels.size(); ++i) {
                const Label& l = labels[i];
                const bool own_le = le_allowed && i + 1 == labels.size();
                const bool reserved = l.name.substr(0, 2) == "__" || (l.name == "le" && !own_le);
                if (!is_valid_name(l.name, false) || reserved) {
                    throw std::invalid_argument("PrometheusText: invalid label name '" + std::string(l.name) + "' on " +
                                                std::string(name));
                }
                if (i != 0) line += ',';
                line += l.name;
                line += "=\"";
                line += escape_label_value(l.value);
                line += '"';
            }
            line += '}';
        }
        if (!f.series.insert(line).second) {
            throw std::invalid_argument("PrometheusText: the series " + line + " was added twice");
        }
        line += ' ';
        line += value;
        line += '\n';
        f.body += line;
    }

    std::vector<Family> families_;
    std::map<std::string, std::size_t, std::less<>> index_;
};

}  // namespace dogpile::metrics
