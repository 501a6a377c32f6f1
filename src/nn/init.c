/* Parameter initialisers with torch.nn.init's formulas (fans as in
 * _calculate_fan_in_and_fan_out: fan_in = size(1) * receptive field, fan_out = size(0) * ...). */
#include "deepc/nn.h"
#include "../core/internal.h"

#include <math.h>
#include <string.h>

static int fans(const dc_tensor *t, double *fan_in, double *fan_out, const char *op)
{
    if (!t) return dc_error("%s: tensor is NULL", op), -1;
    if (t->ndim < 2)
        return dc_error("%s: fan in and fan out need at least 2 dims, got %d", op, t->ndim), -1;
    double receptive = 1;
    for (int d = 2; d < t->ndim; d++) receptive *= (double)t->shape[d];
    *fan_in = (double)t->shape[1] * receptive;
    *fan_out = (double)t->shape[0] * receptive;
    return 0;
}

double dc_init_gain(dc_activation nonlinearity, double param)
{
    switch (nonlinearity) {
    case DC_ACT_RELU: return sqrt(2.0);
    case DC_ACT_TANH: return 5.0 / 3.0;
    case DC_ACT_LEAKY_RELU: return sqrt(2.0 / (1.0 + param * param));
    default: return 1.0; /* linear, sigmoid, identity (torch's values) */
    }
}

int dc_init_xavier_uniform_(dc_tensor *t, double gain, dc_rng *rng)
{
    double in, out;
    if (fans(t, &in, &out, "dc_init_xavier_uniform_")) return -1;
    double bound = gain * sqrt(6.0 / (in + out));
    return dc_uniform_(rng, t, -bound, bound);
}

int dc_init_xavier_normal_(dc_tensor *t, double gain, dc_rng *rng)
{
    double in, out;
    if (fans(t, &in, &out, "dc_init_xavier_normal_")) return -1;
    return dc_normal_(rng, t, 0.0, gain * sqrt(2.0 / (in + out)));
}

/* std = gain / sqrt(fan) with gain for leaky_relu(a) (a = 0: relu) */
static int kaiming_std(const dc_tensor *t, double a, bool fan_in_mode, double *std, const char *op)
{
    double in, out;
    if (fans(t, &in, &out, op)) return -1;
    *std = sqrt(2.0 / (1.0 + a * a)) / sqrt(fan_in_mode ? in : out);
    return 0;
}

int dc_init_kaiming_uniform_(dc_tensor *t, double a, bool fan_in_mode, dc_rng *rng)
{
    double std;
    if (kaiming_std(t, a, fan_in_mode, &std, "dc_init_kaiming_uniform_")) return -1;
    return dc_uniform_(rng, t, -sqrt(3.0) * std, sqrt(3.0) * std);
}

int dc_init_kaiming_normal_(dc_tensor *t, double a, bool fan_in_mode, dc_rng *rng)
{
    double std;
    if (kaiming_std(t, a, fan_in_mode, &std, "dc_init_kaiming_normal_")) return -1;
    return dc_normal_(rng, t, 0.0, std);
}
