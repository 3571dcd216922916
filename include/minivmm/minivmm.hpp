// The umbrella header of libminivmm.
#pragma once

#include <minivmm/console.hpp>
#include <minivmm/error.hpp>
#include <minivmm/exit_status.hpp>
#include <minivmm/log.hpp>
#include <minivmm/vm.hpp>
#include <minivmm/vm_config.hpp>
