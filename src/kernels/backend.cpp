#include "recblocks/kernels/backend.h"

#include "kernels/cpu/cpu_backend.h"

namespace recblocks::kernels {

Backend& backend(Device device) {
  switch (device) {
    case Device::kCpu: {
      static cpu::CpuBackend cpu_backend;
      return cpu_backend;
    }
  }
  throw Error("backend: unknown device");
}

}  // namespace recblocks::kernels
