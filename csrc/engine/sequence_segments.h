// Sequences of different lengths in one batch (PyTorch's pack_padded_sequence semantics): the batch is
// sorted by length (longest first), so at every time step the sequences still running are a prefix of
// the sorted batch, and the steps fall into segments over which that prefix does not change. Each
// segment runs as one ordinary kernel call over its own contiguous [steps, batch, .] block, so the cost
// follows the real steps and no kernel knows about lengths.
//
// Layout ("packed", as a PackedSequence's data): time-major, and at time t only the rows of the
// sequences with length > t, in sorted order; segment i covers times [t0, t0 + steps) with `batch` rows
// each, starting at packed row `row0`. A direction's running state lives in one [N, H] buffer in sorted
// order: a segment reads and updates its prefix of rows, so a sequence that has ended keeps its final
// state there (forward direction), and one that has not started yet keeps its initial state (reverse
// direction, which visits the segments last to first and starts each sequence at its own end).
// Compiled with baseline flags.
#pragma once

#include <cstdint>
#include <vector>

namespace fusedrnn {

struct Segment {
  std::int64_t t0 = 0;     // first time step
  std::int64_t steps = 0;  // time steps
  std::int64_t batch = 0;  // sequences running over these steps: sorted rows [0, batch)
  std::int64_t row0 = 0;   // packed row of (t0, sorted row 0); (t, k) is row0 + (t - t0) * batch + k
};

struct SequenceSegments {
  std::int64_t steps = 0, batch = 0;  // T and N of the padded tensors
  std::vector<std::int64_t> order;    // order[k]: the batch index of sorted row k
  std::vector<Segment> segments;      // by increasing time
  std::int64_t rows = 0;              // packed rows: the sum of the lengths

  // Throws std::invalid_argument naming `lengths` unless every length is in [1, T].
  void build(const std::int64_t* lengths, std::int64_t T, std::int64_t N);
};

// padded: [T, N, width] (row stride ld) -> packed: [rows, width].
template <class T>
void pack_padded(const SequenceSegments& s, const T* padded, std::int64_t ld, std::int64_t width, T* packed);
// packed: [rows, width] -> padded: [T, N, width] (row stride ld), zeros at the padding.
template <class T>
void unpack_to_padded(const SequenceSegments& s, const T* packed, std::int64_t width, T* padded,
                      std::int64_t ld);
// states: [N, H] in batch order <-> sorted order (null source: zeros).
template <class T>
void states_to_sorted(const SequenceSegments& s, const T* states, std::int64_t H, T* sorted);
template <class T>
void states_from_sorted(const SequenceSegments& s, const T* sorted, std::int64_t H, T* states);

}  // namespace fusedrnn
