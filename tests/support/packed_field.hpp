// Reading fields of packed boot-protocol structs in Catch2 assertions.
#pragma once

namespace minivmm::test {

// A copy of a packed field: Catch would bind a misaligned reference to the field itself.
template <typename T>
T field(T value)
{
    return value;
}

} // namespace minivmm::test
