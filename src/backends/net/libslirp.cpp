#include "backends/net/libslirp.hpp"

#include "util/log_rate_limit.hpp"

#include <minivmm/error.hpp>

#include <fmt/format.h>
#include <glib.h>
#include <spdlog/spdlog.h>

#include <dlfcn.h>

#include <mutex>
#include <string>

namespace minivmm::backends {
namespace {

constexpr const char* kLibrary = "libslirp.so.0";
constexpr const char* kGlib = "libglib-2.0.so.0";

std::string dl_error()
{
    const char* error = ::dlerror();
    return error != nullptr ? error : "unknown error";
}

template <typename Function>
void resolve(void* handle, const char* name, Function& function)
{
    // dlsym returns the address of a function as void*: POSIX guarantees the round trip.
    function = reinterpret_cast<Function>(::dlsym(handle, name));
    if (function == nullptr) {
        throw ConfigError(fmt::format("user-mode networking: {} has no {} (libslirp 4.7 or later is needed): {}",
                                      kLibrary, name, dl_error()));
    }
}

// GLib log lines of the "Slirp" domain, into spdlog at most 10 per 5 s.
void log_to_spdlog(const gchar* /*domain*/, GLogLevelFlags level, const gchar* message, gpointer /*user_data*/)
{
    static std::mutex mutex;
    static util::LogRateLimit limit;
    uint64_t suppressed = 0;
    {
        std::lock_guard lock(mutex);
        if (!limit.allow(suppressed)) {
            return;
        }
    }
    const auto spd_level = (level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL)) != 0 ? spdlog::level::err
                           : (level & G_LOG_LEVEL_WARNING) != 0                      ? spdlog::level::warn
                                                                                     : spdlog::level::debug;
    spdlog::log(spd_level, "libslirp: {}{}", message != nullptr ? message : "",
                suppressed > 0 ? fmt::format(" ({} earlier messages not logged)", suppressed) : std::string());
}

// GLib is in the process once libslirp is: route libslirp's log domain to spdlog.
void route_glib_log()
{
    void* glib = ::dlopen(kGlib, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    if (glib == nullptr) {
        spdlog::debug("user-mode networking: {} not found: libslirp's own warnings go to stderr", kGlib);
        return;
    }
    decltype(&::g_log_set_handler) set_handler = nullptr;
    // As in resolve(): a function's address through dlsym's void*.
    set_handler = reinterpret_cast<decltype(set_handler)>(::dlsym(glib, "g_log_set_handler"));
    if (set_handler != nullptr) {
        const auto levels = static_cast<GLogLevelFlags>(G_LOG_LEVEL_MASK | G_LOG_FLAG_FATAL | G_LOG_FLAG_RECURSION);
        set_handler("Slirp", levels, log_to_spdlog, nullptr);
    }
    ::dlclose(glib); // RTLD_NOLOAD took a reference; libslirp keeps GLib loaded
}

LibSlirp load()
{
    void* handle = ::dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        throw ConfigError(fmt::format("user-mode networking needs libslirp (Debian package libslirp0): {}",
                                      dl_error()));
    }
    LibSlirp lib;
    resolve(handle, "slirp_new", lib.slirp_new);
    resolve(handle, "slirp_cleanup", lib.slirp_cleanup);
    resolve(handle, "slirp_pollfds_fill", lib.slirp_pollfds_fill);
    resolve(handle, "slirp_pollfds_poll", lib.slirp_pollfds_poll);
    resolve(handle, "slirp_input", lib.slirp_input);
    resolve(handle, "slirp_handle_timer", lib.slirp_handle_timer);
    resolve(handle, "slirp_add_hostfwd", lib.slirp_add_hostfwd);
    resolve(handle, "slirp_version_string", lib.slirp_version_string);
    route_glib_log();
    spdlog::debug("user-mode networking: libslirp {}", lib.slirp_version_string());
    return lib;
}

} // namespace

const LibSlirp& LibSlirp::get()
{
    // A failed load throws out of call_once, which then runs again on the next call.
    static std::once_flag once;
    static LibSlirp lib;
    std::call_once(once, [] { lib = load(); });
    return lib;
}

} // namespace minivmm::backends
