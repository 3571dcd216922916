// libslirp (Debian libslirp0; https://gitlab.freedesktop.org/slirp/libslirp), the TCP/IP
// stack of user-mode networking, as the functions minivmm calls, typed from <libslirp.h>.
//
// Loaded with dlopen when the first user-mode NIC is made instead of linked: libslirp and
// the GLib it needs would otherwise load into every minivmm process, user-mode NIC or not
// (measured: +1.6 MiB peak RSS for a program that merely links them, against minivmm's
// 3.6 MiB for a whole small VM). Written against the 4.7 API (Debian 12); later versions
// keep it.
//
// libslirp reports some events with GLib's g_warning/g_critical (domain "Slirp"), one of them
// for every ICMPv6 echo request a guest sends outside the network: those go to spdlog,
// rate-limited, instead of GLib's default handler on stderr.
#pragma once

#include <libslirp.h>

namespace minivmm::backends {

struct LibSlirp {
    decltype(&::slirp_new) slirp_new = nullptr;
    decltype(&::slirp_cleanup) slirp_cleanup = nullptr;
    decltype(&::slirp_pollfds_fill) slirp_pollfds_fill = nullptr;
    decltype(&::slirp_pollfds_poll) slirp_pollfds_poll = nullptr;
    decltype(&::slirp_input) slirp_input = nullptr;
    decltype(&::slirp_handle_timer) slirp_handle_timer = nullptr;
    decltype(&::slirp_add_hostfwd) slirp_add_hostfwd = nullptr;
    decltype(&::slirp_version_string) slirp_version_string = nullptr;

    // The library, loaded once per process (never unloaded). Throws ConfigError naming the
    // package when it cannot be loaded or lacks a function.
    [[nodiscard]] static const LibSlirp& get();
};

} // namespace minivmm::backends
