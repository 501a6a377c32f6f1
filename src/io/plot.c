/* Line plots written directly as SVG (no library): the loss curves of `deepc train`, drawn
 * like the book's fig. 3.5 (training and validation loss against the epoch). */
#include "deepc/io.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Canvas and plot area in SVG user units (pixels). */
enum { WIDTH = 640, HEIGHT = 420, LEFT = 72, RIGHT = 24, TOP = 40, BOTTOM = 56 };
enum { MAX_TICKS = 12 };

static const char *const default_colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728",
                                             "#9467bd", "#8c564b"};

/* Ticks of an axis: a "nice" step (1, 2 or 5 x 10^k) giving at most ~6 intervals, and the
 * range [lo, hi] widened to whole steps so every point lies inside. */
typedef struct {
    double lo, hi, step;
    int n; /* ticks lo, lo + step, ..., hi */
} axis_ticks;

static axis_ticks nice_ticks(double lo, double hi)
{
    if (!(hi > lo)) { /* a single value: give it a unit-wide (or value-wide) range */
        double pad = lo != 0 ? fabs(lo) * 0.5 : 0.5;
        lo -= pad, hi += pad;
    }
    double raw = (hi - lo) / 6, magnitude = pow(10, floor(log10(raw)));
    double fraction = raw / magnitude;
    double step = (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * magnitude;
    axis_ticks t = {floor(lo / step + 1e-9) * step, ceil(hi / step - 1e-9) * step, step, 0};
    t.n = (int)lround((t.hi - t.lo) / step) + 1;
    return t;
}

/* Tick label with as many decimals as the step needs ("0.25", "1e+04" for huge values). */
static void tick_label(char *buf, size_t size, double value, double step)
{
    int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (fabs(value) < step * 1e-6) value = 0; /* no "-0" */
    if (fabs(value) >= 1e6) snprintf(buf, size, "%.3g", value);
    else snprintf(buf, size, "%.*f", decimals, value);
}

/* Text with the XML special characters escaped. */
static void put_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* Range of the finite points of all series; false if there are none. */
static bool data_range(const dc_plot_series *series, int n_series, double *x0, double *x1,
                       double *y0, double *y1)
{
    bool any = false;
    for (int s = 0; s < n_series; s++)
        for (int i = 0; i < series[s].n; i++) {
            double x = series[s].x[i], y = series[s].y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            if (!any) *x0 = *x1 = x, *y0 = *y1 = y, any = true;
            *x0 = fmin(*x0, x), *x1 = fmax(*x1, x), *y0 = fmin(*y0, y), *y1 = fmax(*y1, y);
        }
    return any;
}

/* inline_html: an <svg> element for an HTML page, without the XML namespace (HTML5 needs
 * none, so the page names no URL) and scaling down to the page's width. */
static void write_svg(FILE *f, const char *title, const char *xlabel, const char *ylabel,
                      const dc_plot_series *series, int n_series, bool inline_html)
{
    double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    data_range(series, n_series, &x0, &x1, &y0, &y1);
    axis_ticks xt = nice_ticks(x0, x1), yt = nice_ticks(y0, y1);
    const double plot_w = WIDTH - LEFT - RIGHT, plot_h = HEIGHT - TOP - BOTTOM;
/* data coordinates -> pixels (y grows downwards in SVG) */
#define PX(x) (LEFT + ((x) - xt.lo) / (xt.hi - xt.lo) * plot_w)
#define PY(y) (TOP + plot_h - ((y) - yt.lo) / (yt.hi - yt.lo) * plot_h)
    fprintf(f, "<svg %swidth=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\"%s>\n",
            inline_html ? "" : "xmlns=\"http://www.w3.org/2000/svg\" ", WIDTH, HEIGHT, WIDTH,
            HEIGHT, inline_html ? " style=\"max-width:100%;height:auto\"" : "");
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n");
    fprintf(f, "<text x=\"%d\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">",
            LEFT + (int)plot_w / 2);
    put_text(f, title);
    fprintf(f, "</text>\n");

    /* grid lines and tick labels */
    char label[64];
    for (int i = 0; i < xt.n && i < 4 * MAX_TICKS; i++) {
        double x = xt.lo + i * xt.step;
        tick_label(label, sizeof label, x, xt.step);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n",
                PX(x), TOP, PX(x), TOP + plot_h);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", PX(x),
                TOP + plot_h + 18, label);
    }
    for (int i = 0; i < yt.n && i < 4 * MAX_TICKS; i++) {
        double y = yt.lo + i * yt.step;
        tick_label(label, sizeof label, y, yt.step);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e0e0e0\"/>\n",
                LEFT, PY(y), LEFT + plot_w, PY(y));
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", LEFT - 6,
                PY(y) + 4, label);
    }
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" "
               "stroke=\"black\"/>\n",
            LEFT, TOP, plot_w, plot_h);
    fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">", LEFT + plot_w / 2,
            HEIGHT - 14);
    put_text(f, xlabel);
    fprintf(f, "</text>\n<text transform=\"translate(18 %.1f) rotate(-90)\" "
               "text-anchor=\"middle\">",
            TOP + plot_h / 2);
    put_text(f, ylabel);
    fprintf(f, "</text>\n");

    /* the curves, then the legend in the top-right corner */
    for (int s = 0; s < n_series; s++) {
        const dc_plot_series *c = &series[s];
        const char *color = c->color ? c->color : default_colors[s % 6];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", color);
        for (int i = 0; i < c->n; i++)
            if (isfinite(c->x[i]) && isfinite(c->y[i]))
                fprintf(f, "%.1f,%.1f ", PX(c->x[i]), PY(c->y[i]));
        fprintf(f, "\"/>\n");
        for (int i = 0; c->markers && i < c->n; i++)
            if (isfinite(c->x[i]) && isfinite(c->y[i]))
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"/>\n",
                        PX(c->x[i]), PY(c->y[i]), color);
        if (!c->label || !*c->label) continue; /* an unnamed curve has no legend entry */
        double ly = TOP + 16 + 18 * s, lx = LEFT + plot_w - 150;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                   "stroke-width=\"2\"/>\n<text x=\"%.1f\" y=\"%.1f\">",
                lx, ly, lx + 24, ly, color, lx + 30, ly + 4);
        put_text(f, c->label);
        fprintf(f, "</text>\n");
    }
#undef PX
#undef PY
    fprintf(f, "</svg>\n");
}

/* The arguments of a plot; -1 with an error naming the bad one. */
static int check_series(const char *fn, const dc_plot_series *series, int n_series)
{
    for (int s = 0; s < n_series; s++)
        if (series[s].n < 0 || (series[s].n > 0 && (!series[s].x || !series[s].y)))
            return dc_error("%s: series %d ('%s') has no points array", fn, s,
                            series[s].label ? series[s].label : ""),
                   -1;
    return 0;
}

int dc_plot_svg_write(FILE *f, const char *title, const char *xlabel, const char *ylabel,
                      const dc_plot_series *series, int n_series, bool inline_html)
{
    if (!f || (n_series > 0 && !series) || n_series < 0)
        return dc_error("dc_plot_svg_write: NULL stream or series"), -1;
    if (check_series("dc_plot_svg_write", series, n_series) != 0) return -1;
    write_svg(f, title, xlabel, ylabel, series, n_series, inline_html);
    return ferror(f) ? dc_error("dc_plot_svg_write: write error: %s", strerror(errno)), -1 : 0;
}

int dc_plot_svg(const char *path, const char *title, const char *xlabel, const char *ylabel,
                const dc_plot_series *series, int n_series)
{
    if (!path || (n_series > 0 && !series) || n_series < 0)
        return dc_error("dc_plot_svg: NULL path or series"), -1;
    if (check_series("dc_plot_svg", series, n_series) != 0) return -1;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) return dc_error("dc_plot_svg: cannot create %s: %s", tmp, strerror(errno)), -1;
    write_svg(f, title, xlabel, ylabel, series, n_series, false);
    bool written = !ferror(f);
    if (fclose(f) != 0) written = false;
    if (!written || rename(tmp, path) != 0) {
        int err = errno;
        remove(tmp);
        return dc_error("dc_plot_svg: cannot write %s: %s", path, strerror(err)), -1;
    }
    return 0;
}
