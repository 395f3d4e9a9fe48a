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
    : slot_(installed(device)), previous_(slot_) {
  slot_ = &replacement;
}

// The slot was found by the constructor: restoring cannot throw.
ScopedBackend::~ScopedBackend() { slot_ = previous_; }

}  // namespace recblocks::kernels
