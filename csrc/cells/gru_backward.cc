// GRU backward, both forms (reset-after, reset-before): the shared BPTT time loop with the GRU
// pointwise derivatives. Compiled once per ISA.
#include "cells/gru_cell.h"
#include "cells/gru_reset_before_cell.h"
#include "cells/time_loop_backward.h"
#include "dispatch/isa_entry_points.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

FUSEDRNN_DEFINE_BACKWARD(gru, GruCell)
FUSEDRNN_DEFINE_BACKWARD(gru_reset_before, GruResetBeforeCell)

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
