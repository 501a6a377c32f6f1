/* The metrics list of training tasks (deepc/task.h). */
#include "deepc/task.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int dc_metrics_set(dc_metrics *m, const char *name, double value, bool higher_is_better)
{
    int i = 0;
    while (i < m->n && strcmp(m->metrics[i].name, name) != 0) i++;
    if (i == DC_TASK_MAX_METRICS) {
        dc_error("dc_metrics_set: no room for '%s' (at most %d metrics)", name,
                 DC_TASK_MAX_METRICS);
        return -1;
    }
    if (i == m->n) m->n++;
    snprintf(m->metrics[i].name, sizeof m->metrics[i].name, "%s", name);
    m->metrics[i].value = value;
    m->metrics[i].higher_is_better = higher_is_better;
    return 0;
}

double dc_metrics_get(const dc_metrics *m, const char *name)
{
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->metrics[i].name, name)) return m->metrics[i].value;
    return NAN;
}
