// All autograd ops. Each op checks its inputs' shapes and dtypes (a
// ShapeError names the op, the actual and the expected shape), computes its
// result through the kernel backend, and records its backward on the tape.
#pragma once

#include "recblocks/autograd/ops/activation.h"
#include "recblocks/autograd/ops/dropout.h"
#include "recblocks/autograd/ops/elementwise.h"
#include "recblocks/autograd/ops/embedding.h"
#include "recblocks/autograd/ops/interaction.h"
#include "recblocks/autograd/ops/linear.h"
#include "recblocks/autograd/ops/loss.h"
#include "recblocks/autograd/ops/matmul.h"
#include "recblocks/autograd/ops/norm.h"
#include "recblocks/autograd/ops/normalize.h"
#include "recblocks/autograd/ops/reduce.h"
#include "recblocks/autograd/ops/retrieval.h"
#include "recblocks/autograd/ops/shape.h"
#include "recblocks/autograd/ops/softmax.h"
