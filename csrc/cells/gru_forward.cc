// GRU forward: the shared forward time loop with the GRU pointwise step.
#include "cells/gru_cell.h"
#include "cells/time_loop_forward.h"

namespace fusedrnn {

template void time_loop_forward<GruCell, float>(const LayerConfig&, const ForwardTensors<float>&, int);
template void time_loop_forward<GruCell, double>(const LayerConfig&, const ForwardTensors<double>&, int);
}  // namespace fusedrnn
