/* Learning-rate schedules as closed forms of the step number.
 *
 * Warmup (any kind): lr * step / warmup_steps for step < warmup_steps, a
 * ramp from 0 as in Hugging Face's get_*_schedule_with_warmup. After it the
 * kind runs on the steps counted from the end of warmup:
 *   constant  lr
 *   step      lr * gamma^floor(s / step_size)        (torch StepLR)
 *   cosine    min_lr + (lr - min_lr) (1 + cos(pi s / T)) / 2 for s < T,
 *             min_lr afterwards, T = total_steps - warmup_steps
 *             (torch CosineAnnealingLR's closed form, without restarts).
 * Tested in tests/unit/test_optim.c against torch's schedulers. */
#include <math.h>

#include "lab/lab.h"

float lab_lr_at(const lab_lr_schedule *s, int64_t step)
{
    if (!s) {
        lab_error_set("lr_schedule: no schedule");
        return NAN;
    }
    if (s->warmup_steps < 0) {
        lab_error_set("lr_schedule: warmup_steps %lld is negative", (long long)s->warmup_steps);
        return NAN;
    }
    if (step < 0) step = 0;
    double lr = s->lr;
    if (step < s->warmup_steps) return (float)(lr * (double)step / (double)s->warmup_steps);
    int64_t t = step - s->warmup_steps;
    switch (s->kind) {
    case LAB_LR_CONSTANT: return (float)lr;
    case LAB_LR_STEP:
        if (s->step_size <= 0) {
            lab_error_set("lr_schedule: step schedule needs step_size > 0 (got %lld)", (long long)s->step_size);
            return NAN;
        }
        return (float)(lr * pow((double)s->gamma, (double)(t / s->step_size)));
    case LAB_LR_COSINE: {
        int64_t T = s->total_steps - s->warmup_steps;
        if (T <= 0) {
            lab_error_set("lr_schedule: cosine schedule needs total_steps (%lld) > warmup_steps (%lld)",
                          (long long)s->total_steps, (long long)s->warmup_steps);
            return NAN;
        }
        if (t >= T) return s->min_lr;
        double m = s->min_lr;
        return (float)(m + (lr - m) * (1.0 + cos(M_PI * (double)t / (double)T)) / 2.0);
    }
    }
    lab_error_set("lr_schedule: unknown kind %d", (int)s->kind);
    return NAN;
}
