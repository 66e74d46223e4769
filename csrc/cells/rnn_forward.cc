// Vanilla RNN forward (any activation, see rnn_cell.h): the shared forward time loop with the RNN
// pointwise step. Compiled once per ISA.
#include "cells/rnn_cell.h"
#include "cells/time_loop_forward.h"
#include "dispatch/isa_entry_points.h"
#include "reduced/time_loop_forward_reduced.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

FUSEDRNN_DEFINE_FORWARD(rnn, RnnCell)

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
