/* Stand-in for the CUDA header under the emulator (tests/emu/cuda_emu.h). */
#include "../cuda_emu.h"
