// Compiled as part of the memory layer by the `layers-upward-include` test, which expects the
// compiler to refuse it: memory/ sees only its own and util's include roots, so an include
// of a higher layer (here vmm/) must not resolve. If this ever compiles, layering is broken.
#include "vmm/vm_impl.hpp"
