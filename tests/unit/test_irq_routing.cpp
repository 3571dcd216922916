#include "arch/x86_64/irq_routing.hpp"

#include <catch2/catch.hpp>

using namespace minivmm;

TEST_CASE("the PIT's IRQ 0 reaches IOAPIC pin 2, as the MP table and MADT say", "[unit][irq]")
{
    const auto routes = arch::pc_gsi_routing();
    int gsi0_ioapic = -1;
    int gsi0_pic = -1;
    bool gsi2_routed = false;
    int ioapic_routes = 0;
    for (const auto& r : routes) {
        CHECK(r.type == KVM_IRQ_ROUTING_IRQCHIP);
        if (r.gsi == 0 && r.u.irqchip.irqchip == KVM_IRQCHIP_IOAPIC) {
            gsi0_ioapic = static_cast<int>(r.u.irqchip.pin);
        }
        if (r.gsi == 0 && r.u.irqchip.irqchip == KVM_IRQCHIP_PIC_MASTER) {
            gsi0_pic = static_cast<int>(r.u.irqchip.pin);
        }
        gsi2_routed = gsi2_routed || r.gsi == 2;
        if (r.u.irqchip.irqchip == KVM_IRQCHIP_IOAPIC) {
            ++ioapic_routes;
            if (r.gsi != 0) {
                CHECK(r.u.irqchip.pin == r.gsi); // identity for everything else
            }
        }
        if (r.gsi >= 8 && r.gsi < 16 && r.u.irqchip.irqchip != KVM_IRQCHIP_IOAPIC) {
            CHECK(r.u.irqchip.irqchip == KVM_IRQCHIP_PIC_SLAVE);
            CHECK(r.u.irqchip.pin == r.gsi - 8);
        }
    }
    CHECK(gsi0_ioapic == 2);
    CHECK(gsi0_pic == 0);
    CHECK_FALSE(gsi2_routed); // the 8259 cascade
    CHECK(ioapic_routes == 23);
}
