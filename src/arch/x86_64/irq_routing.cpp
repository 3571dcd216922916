#include "arch/x86_64/irq_routing.hpp"

#include "arch/x86_64/layout.hpp"

#include <cstdint>

namespace minivmm::arch {
namespace {

constexpr uint32_t kIoapicPins = 24;

kvm_irq_routing_entry irqchip_route(uint32_t gsi, uint32_t chip, uint32_t pin)
{
    kvm_irq_routing_entry entry{};
    entry.gsi = gsi;
    entry.type = KVM_IRQ_ROUTING_IRQCHIP;
    entry.u.irqchip.irqchip = chip;
    entry.u.irqchip.pin = pin;
    return entry;
}

} // namespace

std::vector<kvm_irq_routing_entry> pc_gsi_routing()
{
    std::vector<kvm_irq_routing_entry> routes;
    for (uint32_t irq = 0; irq < kIsaIrqCount; ++irq) {
        if (irq != kPicCascadeIrq) {
            routes.push_back(irqchip_route(irq, irq < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, irq % 8));
        }
    }
    for (uint32_t gsi = 0; gsi < kIoapicPins; ++gsi) {
        if (gsi == 0) {
            routes.push_back(irqchip_route(0, KVM_IRQCHIP_IOAPIC, kPicCascadeIrq));
        } else if (gsi != kPicCascadeIrq) {
            routes.push_back(irqchip_route(gsi, KVM_IRQCHIP_IOAPIC, gsi));
        }
    }
    return routes;
}

} // namespace minivmm::arch
