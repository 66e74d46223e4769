// Vanilla RNN backward (any activation, see rnn_cell.h): the shared backward time loop with the RNN
// pointwise derivative. Compiled once per ISA.
#include "cells/rnn_cell.h"
#include "cells/time_loop_backward.h"
#include "dispatch/isa_entry_points.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

FUSEDRNN_DEFINE_BACKWARD(rnn, RnnCell)

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
