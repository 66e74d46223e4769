// GRU forward, both forms (reset-after, reset-before): the shared forward time loop with the GRU
// pointwise steps. Compiled once per ISA.
#include "cells/gru_cell.h"
#include "cells/gru_reset_before_cell.h"
#include "cells/time_loop_forward.h"
#include "dispatch/isa_entry_points.h"
#include "reduced/time_loop_forward_reduced.h"

namespace fusedrnn::FUSEDRNN_ISA_NS {

FUSEDRNN_DEFINE_FORWARD(gru, GruCell)
FUSEDRNN_DEFINE_FORWARD(gru_reset_before, GruResetBeforeCell)

}  // namespace fusedrnn::FUSEDRNN_ISA_NS
