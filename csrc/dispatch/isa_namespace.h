// Code compiled once per ISA lives in namespace fusedrnn::FUSEDRNN_ISA_NS, set by the build for each
// per-ISA object library (generic, avx2, avx512). Distinct namespaces keep the copies apart: an inline
// function shared by name across translation units with different flags could otherwise be the one
// copy the linker keeps for everybody, and run AVX-512 code on a CPU without it.
#pragma once

#ifndef FUSEDRNN_ISA_NS
#error "FUSEDRNN_ISA_NS must be defined: this file belongs to a per-ISA object library"
#endif
