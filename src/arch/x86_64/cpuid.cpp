// Leaf numbers and bit positions: Intel SDM vol. 2A "CPUID", AMD APM vol. 3 appendix E,
// and Documentation/virt/kvm/x86/cpuid.rst for the 0x4000_0000 range.
#include "arch/x86_64/cpuid.hpp"

#include <bit>
#include <cstdint>

namespace minivmm::arch {
namespace {

constexpr uint32_t kLeafFeatures = 0x1;
constexpr uint32_t kLeafCacheParams = 0x4;
constexpr uint32_t kLeafPerfMon = 0xa;
constexpr uint32_t kLeafTopology = 0xb;
constexpr uint32_t kLeafTopologyV2 = 0x1f;
constexpr uint32_t kLeafKvmSignature = 0x4000'0000;
constexpr uint32_t kLeafAmdSizes = 0x8000'0008;
constexpr uint32_t kLeafAmdTopology = 0x8000'001e;

constexpr uint32_t kEcxHypervisor = 1U << 31;
constexpr uint32_t kEcxTscDeadline = 1U << 24;
constexpr uint32_t kEdxHtt = 1U << 28;

// Topology level types in leaf 0xB/0x1F ECX[15:8].
constexpr uint32_t kLevelSmt = 1;
constexpr uint32_t kLevelCore = 2;

unsigned bits_for(unsigned count) { return count <= 1 ? 0 : static_cast<unsigned>(std::bit_width(count - 1)); }

void set_topology_leaf(kvm_cpuid_entry2& entry, unsigned apic_id, unsigned count)
{
    entry.edx = apic_id;
    switch (entry.index) {
    case 0: // SMT level: one thread per core
        entry.eax = 0;
        entry.ebx = 1;
        entry.ecx = (kLevelSmt << 8) | entry.index;
        break;
    case 1: // core level: all vCPUs in one package
        entry.eax = bits_for(count);
        entry.ebx = count;
        entry.ecx = (kLevelCore << 8) | entry.index;
        break;
    default: // end of the enumeration
        entry.eax = 0;
        entry.ebx = 0;
        entry.ecx = entry.index;
        break;
    }
}

} // namespace

std::vector<kvm_cpuid_entry2> cpuid_for_vcpu(std::span<const kvm_cpuid_entry2> supported, unsigned index,
                                             unsigned count, const CpuidOptions& options)
{
    std::vector<kvm_cpuid_entry2> entries(supported.begin(), supported.end());
    const unsigned apic_id = index;
    for (auto& entry : entries) {
        switch (entry.function) {
        case kLeafFeatures:
            // EBX[31:24] initial APIC ID, [23:16] logical processors per package.
            entry.ebx = (entry.ebx & 0x0000'ffff) | (apic_id << 24) | ((count & 0xff) << 16);
            entry.ecx |= kEcxHypervisor;
            if (options.tsc_deadline_timer) {
                entry.ecx |= kEcxTscDeadline;
            }
            if (count > 1) {
                entry.edx |= kEdxHtt;
            }
            break;
        case kLeafCacheParams:
            // EAX[31:26]: cores per package - 1; EAX[25:14]: threads sharing the cache - 1.
            entry.eax &= 0x3ff;
            entry.eax |= ((count - 1) & 0x3f) << 26;
            break;
        case kLeafPerfMon:
            // No virtual PMU is promised: guests must not program counters we don't save.
            entry.eax = entry.ebx = entry.ecx = entry.edx = 0;
            break;
        case kLeafTopology:
        case kLeafTopologyV2:
            set_topology_leaf(entry, apic_id, count);
            break;
        case kLeafAmdSizes:
            // ECX[7:0]: number of cores - 1; [15:12]: APIC ID bits for cores.
            entry.ecx = (entry.ecx & ~0xf0ffU) | ((count - 1) & 0xff) | (bits_for(count) << 12);
            break;
        case kLeafAmdTopology:
            entry.eax = apic_id; // extended APIC ID
            entry.ebx = (entry.ebx & ~0xffU) | (apic_id & 0xff);
            entry.ecx = 0; // node 0
            break;
        default:
            break;
        }
    }
    // KVM's own signature leaf comes from KVM_GET_SUPPORTED_CPUID on every current kernel;
    // add it if an old kernel left it out, so the guest finds kvm-clock.
    bool has_signature = false;
    for (const auto& entry : entries) {
        has_signature = has_signature || entry.function == kLeafKvmSignature;
    }
    if (!has_signature) {
        kvm_cpuid_entry2 signature{};
        signature.function = kLeafKvmSignature;
        signature.eax = kLeafKvmSignature + 1;
        signature.ebx = 0x4b4d564b; // "KVMK"
        signature.ecx = 0x564b4d56; // "VMKV"
        signature.edx = 0x0000004d; // "M\0\0\0"
        entries.push_back(signature);
    }
    return entries;
}

} // namespace minivmm::arch
