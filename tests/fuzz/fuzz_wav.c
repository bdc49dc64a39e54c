/* libFuzzer target: the WAV parser and, for short results, the resampler
 * (framework/data/wav.c). The last input byte picks the resampling rates. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../framework/data/data_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lab_wav_info info;
    lab_tensor *t = lab_wav_parse(data, size, "fuzz.wav", &info);
    if (!t) return 0;
    const float *v = lab_tensor_f32(t);
    for (int64_t i = 0; i < t->numel; i++)
        if (!isfinite(v[i]) || (!info.is_float && (v[i] < -1.0f || v[i] > 1.0f))) abort();
    if (t->numel <= 512 && size > 0) {
        static const int rates[4] = {8000, 12000, 16000, 24000};
        uint8_t b = data[size - 1];
        lab_tensor *r = lab_wav_resample(t, rates[b & 3], rates[(b >> 2) & 3]);
        if (!r) abort();
        lab_tensor_release(r);
    }
    lab_tensor_release(t);
    return 0;
}
