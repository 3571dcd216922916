// What the minivmm command sets up in its own process before it creates a VM, for both the
// plain command and `minivmm exec`.
#pragma once

namespace minivmm::cli {

// A reader that goes away (`minivmm ... | head -1`) must not kill minivmm before the guest's
// verdict, the devices' teardown and the disks' flush: SIGPIPE is ignored and writes fail with
// EPIPE instead. Nothing minivmm runs may gain privileges (setuid programs, file capabilities):
// it executes no program, and a compromised thread must not either (PR_SET_NO_NEW_PRIVS).
void guard_process();

} // namespace minivmm::cli
