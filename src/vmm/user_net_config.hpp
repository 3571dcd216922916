// User-mode networking in VmConfig terms: the checks VmConfig::validate() makes of a NIC with
// NetMode::User, and the back end's options the builder makes of it.
#pragma once

#include "backends/net/user_net_options.hpp"

#include <minivmm/vm_config.hpp>

#include <string>
#include <vector>

namespace minivmm::vmm {

// Appends one line per problem: addresses outside the network or on top of each other, a
// network with host bits set, port ranges empty, past 65535 or overlapping on the host.
void check_user_net(std::vector<std::string>& problems, const NetConfig& net);

// The back end's options: addresses resolved, one forward per port. `net` is valid.
[[nodiscard]] backends::UserNetOptions user_net_options(const NetConfig& net);

// "10.0.2.15"
[[nodiscard]] std::string to_string(const Ipv4AddressBytes& address);

} // namespace minivmm::vmm
