// GRU backward: the shared BPTT time loop with the GRU pointwise derivative.
#include "cells/gru_cell.h"
#include "cells/time_loop_backward.h"

namespace fusedrnn {

template void time_loop_backward<GruCell, float>(const LayerConfig&, const BackwardTensors<float>&, int);
template void time_loop_backward<GruCell, double>(const LayerConfig&, const BackwardTensors<double>&, int);
}  // namespace fusedrnn
