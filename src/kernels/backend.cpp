#include "recblocks/kernels/backend.h"

#include "kernels/cpu/cpu_backend.h"

namespace recblocks::kernels {
namespace {

// The backend a ScopedBackend installed for each device, or null. Plain
// pointers: scopes change only while nothing computes.
Backend* installed_cpu = nullptr;

Backend*& installed(Device device) {
  switch (device) {
    case Device::kCpu: return installed_cpu;
  }
  throw Error("backend: unknown device");
}

}  // namespace

Backend& backend(Device device) {
  switch (device) {
    case Device::kCpu: {
      if (installed_cpu != nullptr) return *installed_cpu;
      static cpu::CpuBackend cpu_backend;
      return cpu_backend;
    }
  }
  throw Error("backend: unknown device");
}

ScopedBackend::ScopedBackend(Device device, Backend& replacement)
    : device_(device), previous_(installed(device)) {
  installed(device) = &replacement;
}

ScopedBackend::~ScopedBackend() { installed(device_) = previous_; }

}  // namespace recblocks::kernels
