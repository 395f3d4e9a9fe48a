// recblocks: recommender models from composable blocks, trained on the CPU.
// One include for the whole public API.
#pragma once

#include "recblocks/autograd/ops.h"
#include "recblocks/autograd/parameter.h"
#include "recblocks/autograd/tape.h"
#include "recblocks/core/arena.h"
#include "recblocks/core/error.h"
#include "recblocks/core/ragged.h"
#include "recblocks/core/rng.h"
#include "recblocks/core/shape.h"
#include "recblocks/core/tensor.h"
#include "recblocks/core/threads.h"
#include "recblocks/kernels/backend.h"
#include "recblocks/version.h"
