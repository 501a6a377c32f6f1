/* Writes the seed corpora of the fuzz targets, fuzz/corpus/TARGET/NAME (`make fuzz-corpus`;
 * the output is committed). Small valid files written by the library itself where it has a
 * writer (safetensors, checkpoints, tokenizers), hand-made files for the rest, and a few
 * edge cases per format (empty, zero-size dims, every dtype, gzip, invalid UTF-8, ...).
 * Deterministic: the same bytes on every run. Run from the repository root. */
#include "fuzz_common.h"

#include <errno.h>
#include <sys/stat.h>
#include <zlib.h>

static int failures;

static void write_seed(const char *target, const char *name, const void *data, size_t size)
{
    char path[512];
    snprintf(path, sizeof path, "fuzz/corpus/%s", target);
    mkdir("fuzz/corpus", 0777);
    mkdir(path, 0777);
    snprintf(path, sizeof path, "fuzz/corpus/%s/%s", target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
        fprintf(stderr, "make_corpus: cannot write %s: %s\n", path, strerror(errno));
        failures++;
    }
}

/* The bytes of a file (malloc'ed), or NULL. */
static unsigned char *slurp(const char *path, size_t *size)
{
    char *text = dc_read_text_file(path, size);
    if (!text) {
        fprintf(stderr, "make_corpus: %s\n", dc_last_error());
        failures++;
    }
    return (unsigned char *)text;
}

/* A file the library wrote as a seed (then removed). */
static void seed_from_file(const char *target, const char *name, const char *path)
{
    size_t size;
    unsigned char *bytes = slurp(path, &size);
    if (bytes) write_seed(target, name, bytes, size);
    free(bytes);
    remove(path);
}

/* A safetensors file by hand: an 8-byte length, the JSON header, then `data`. */
static void seed_safetensors(const char *target, const char *name, const char *header,
                             const void *data, size_t data_len)
{
    size_t header_len = strlen(header), size = 8 + header_len + data_len;
    unsigned char *bytes = malloc(size);
    uint64_t n = header_len;
    memcpy(bytes, &n, 8);
    memcpy(bytes + 8, header, header_len);
    if (data_len) memcpy(bytes + 8 + header_len, data, data_len);
    write_seed(target, name, bytes, size);
    free(bytes);
}

static void safetensors_seeds(void)
{
    char tmp[512];
    fuzz_path(tmp, sizeof tmp, "seed.safetensors");
    /* the library's own files: nothing; a few tensors of each dtype it writes + metadata */
    if (dc_safetensors_save(tmp, NULL, 0, NULL, 0) == 0) seed_from_file("safetensors", "empty", tmp);
    size_t scope = dc_scope_begin();
    dc_tensor *a = dc_arange(DC_F32, 0, 6, 1), *m = dc_reshape(a, DC_SHAPE(2, 3));
    dc_tensor *t = dc_transpose(m, 0, 1), *s = dc_scalar(DC_F64, -2.5);
    dc_tensor *i = dc_arange(DC_I64, -3, 3, 1), *z = dc_zeros(DC_F32, DC_SHAPE(0, 4));
    dc_named_tensor items[] = {{"weight", m}, {"weight_t", t}, {"scale", s}, {"ids", i},
                               {"empty", z}};
    const char *meta[] = {"format", "pt", "deepc", DC_VERSION};
    if (dc_safetensors_save(tmp, items, 5, meta, 2) == 0) seed_from_file("safetensors", "mixed", tmp);
    dc_scope_end(scope);

    /* every dtype the reader knows, by hand */
    static const unsigned char data[] = {
        0, 0, 128, 63, 0, 0, 0, 192,                   /* F32 [2]: 1, -2 */
        0, 0, 0, 0, 0, 0, 240, 63,                      /* F64 []: 1 */
        255, 255, 255, 255, 255, 255, 255, 255,          /* I64 [1]: -1 */
        0, 60, 0, 124, 1, 0,                            /* F16 [3]: 1, inf, smallest subnormal */
        128, 63, 192, 127,                              /* BF16 [2]: 1, nan */
        0, 0, 0, 128,                                   /* I32 [1]: INT32_MIN */
        0, 255,                                         /* U8 [2] */
        128, 127,                                       /* I8 [2] */
    };
    seed_safetensors("safetensors", "all_dtypes",
                     "{\"__metadata__\":{\"k\":\"v\"},"
                     "\"f32\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                     "\"f64\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[8,16]},"
                     "\"i64\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[16,24]},"
                     "\"f16\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[24,30]},"
                     "\"bf16\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[30,34]},"
                     "\"i32\":{\"dtype\":\"I32\",\"shape\":[1,1],\"data_offsets\":[34,38]},"
                     "\"u8\":{\"dtype\":\"U8\",\"shape\":[2,1],\"data_offsets\":[38,40]},"
                     "\"i8\":{\"dtype\":\"I8\",\"shape\":[1,2],\"data_offsets\":[40,42]}}",
                     data, sizeof data);
    /* edge cases: zero-size dims, eight dims, empty tensors sharing an offset, a header
     * that ends the file, unicode names */
    seed_safetensors("safetensors", "zero_dims",
                     "{\"a\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]},"
                     "\"b\":{\"dtype\":\"I8\",\"shape\":[3,0,5],\"data_offsets\":[0,0]},"
                     "\"c\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,2],\"data_offsets\":[0,2]}}",
                     "\x01\x02", 2);
    seed_safetensors("safetensors", "header_only", "{}      ", NULL, 0);
    seed_safetensors("safetensors", "unicode_name",
                     "{\"caf\\u00e9.w\xc3\xa9ight\":{\"dtype\":\"F64\",\"shape\":[1],"
                     "\"data_offsets\":[0,8]}}",
                     "\0\0\0\0\0\0\xf8\x7f", 8);
}

static void checkpoint_seeds(void)
{
    char tmp[512];
    fuzz_path(tmp, sizeof tmp, "seed.ckpt");
    dc_module *model;
    dc_optimizer *opt;
    if (fuzz_checkpoint_model(&model, &opt) != 0) {
        failures++;
        return;
    }
    const char *meta[] = {"deepc", DC_VERSION, "model", "mlp"};
    if (dc_checkpoint_save(tmp, model, opt, meta, 2) == 0) seed_from_file("checkpoint", "fresh", tmp);
    if (dc_checkpoint_save(tmp, model, NULL, NULL, 0) == 0) seed_from_file("checkpoint", "model_only", tmp);
    for (int step = 0; step < 3; step++) (void)fuzz_checkpoint_step(model, opt);
    if (dc_checkpoint_save(tmp, model, opt, meta, 2) == 0) seed_from_file("checkpoint", "trained", tmp);
    dc_optimizer_free(opt);
    dc_module_free(model);
}

/* gzip data (level 9) into out; returns the length. */
static size_t gzip_bytes(const unsigned char *data, size_t size, unsigned char *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)size;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    size_t len = z.total_out;
    deflateEnd(&z);
    return len;
}

/* An idx input: flags, the image file's length, the image file, the label file. */
static void seed_idx(const char *name, int flags, const unsigned char *images, size_t n_images,
                     const unsigned char *labels, size_t n_labels)
{
    unsigned char *bytes = malloc(3 + n_images + n_labels);
    bytes[0] = (unsigned char)flags;
    bytes[1] = (unsigned char)(n_images & 0xff);
    bytes[2] = (unsigned char)(n_images >> 8);
    memcpy(bytes + 3, images, n_images);
    memcpy(bytes + 3 + n_images, labels, n_labels);
    write_seed("idx", name, bytes, 3 + n_images + n_labels);
    free(bytes);
}

static void idx_seeds(void)
{
    /* 2 images of 2 x 3 and their labels */
    static const unsigned char images[] = {0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3,
                                           0, 1, 2, 127, 254, 255, 9, 8, 7, 6, 5, 4};
    static const unsigned char labels[] = {0, 0, 8, 1, 0, 0, 0, 2, 3, 9};
    seed_idx("raw", 0, images, sizeof images, labels, sizeof labels);
    seed_idx("gzip_here", 3, images, sizeof images, labels, sizeof labels);
    seed_idx("gzip_truncated", 3 | 4, images, sizeof images, labels, sizeof labels);
    seed_idx("gzip_bad_crc", 1 | 8, images, sizeof images, labels, sizeof labels);
    unsigned char gz_images[256], gz_labels[256];
    size_t ni = gzip_bytes(images, sizeof images, gz_images, sizeof gz_images);
    size_t nl = gzip_bytes(labels, sizeof labels, gz_labels, sizeof gz_labels);
    seed_idx("gzip_files", 0, gz_images, ni, gz_labels, nl);
    /* no images at all (N = 0), and a label file with trailing bytes */
    static const unsigned char no_images[] = {0, 0, 8, 3, 0, 0, 0, 0, 0, 0, 0, 28, 0, 0, 0, 28};
    static const unsigned char no_labels[] = {0, 0, 8, 1, 0, 0, 0, 0};
    seed_idx("empty_set", 0, no_images, sizeof no_images, no_labels, sizeof no_labels);
    static const unsigned char long_labels[] = {0, 0, 8, 1, 0, 0, 0, 2, 3, 9, 1};
    seed_idx("trailing_byte", 0, images, sizeof images, long_labels, sizeof long_labels);
    /* the test suite's tiny Fashion-MNIST-format files, compressed as they are committed */
    size_t si, sl;
    unsigned char *ti = slurp("tests/data/tiny-images-idx3-ubyte.gz", &si);
    unsigned char *tl = slurp("tests/data/tiny-labels-idx1-ubyte.gz", &sl);
    if (ti && tl) seed_idx("tiny_gz", 0, ti, si, tl, sl);
    free(ti), free(tl);
}

/* A text input: the parameter byte, then the text. */
static void seed_text(const char *name, int params, const char *text, size_t len)
{
    char *bytes = malloc(len + 1);
    bytes[0] = (char)params;
    memcpy(bytes + 1, text, len);
    write_seed("text", name, bytes, len + 1);
    free(bytes);
}

static void seed_tokenizer(const char *name, int params, const dc_tokenizer *tok)
{
    char tmp[512];
    fuzz_path(tmp, sizeof tmp, "seed.tokenizer");
    size_t len;
    char *text = tok && dc_tokenizer_save(tok, tmp) == 0 ? dc_read_text_file(tmp, &len) : NULL;
    if (!text) {
        fprintf(stderr, "make_corpus: tokenizer %s: %s\n", name, dc_last_error());
        failures++;
        return;
    }
    seed_text(name, params, text, len);
    free(text);
    remove(tmp);
}

static void text_seeds(void)
{
    size_t n;
    char *names = dc_read_text_file("assets/names_sample.txt", &n);
    if (!names) {
        failures++;
        return;
    }
    size_t cut = n < 400 ? n : 400;
    seed_text("names", 32 | (1 << 6), names, cut);
    const char prose[] = "The jury said it did find that many of Georgia's registration and "
                         "election laws are outmoded.\n\n  It said \"the the the\"\tagain.\n";
    seed_text("prose", 40 | (3 << 6), prose, sizeof prose - 1);
    const char unicode[] = "caf\xc3\xa9 na\xc3\xafve \xe2\x82\xac \xf0\x9f\x98\x80 \xe6\x97\xa5\xe6\x9c\xac";
    seed_text("unicode", 16, unicode, sizeof unicode - 1);
    const char invalid[] = "ab\xc3(\xed\xa0\x80\xf4\x90\x80\x80\xc0\xaf";
    seed_text("invalid_utf8", 8, invalid, sizeof invalid - 1);
    seed_text("empty", 0, "", 0);
    const char spaces[] = "a  b\n \n\n\t\t  x  ";
    seed_text("spaces", 63, spaces, sizeof spaces - 1);
    /* tokenizer files, as dc_tokenizer_save writes them */
    dc_tokenizer *chars = dc_tokenizer_char_build(names, cut);
    seed_tokenizer("char_tokenizer", 0, chars);
    dc_tokenizer_free(chars);
    dc_tokenizer *uni = dc_tokenizer_char_build(unicode, sizeof unicode - 1);
    seed_tokenizer("char_tokenizer_unicode", 0, uni);
    dc_tokenizer_free(uni);
    dc_tokenizer *bpe = dc_tokenizer_bpe_train(names, cut, 24);
    seed_tokenizer("bpe_tokenizer", 4, bpe);
    dc_tokenizer_free(bpe);
    const char nested[] = "deepc-tokenizer bpe 1\n97 98\n256 256\n257 99\n10 258\n";
    seed_text("bpe_nested", 2, nested, sizeof nested - 1);
    const char no_merges[] = "deepc-tokenizer bpe 1\n";
    seed_text("bpe_no_merges", 2, no_merges, sizeof no_merges - 1);
    free(names);
}

/* A cli_config input: the mode byte, then the text (NUL bytes included). */
static void seed_cli(const char *name, int mode, const char *text, size_t len)
{
    char *bytes = malloc(len + 1);
    bytes[0] = (char)mode;
    memcpy(bytes + 1, text, len);
    write_seed("cli_config", name, bytes, len + 1);
    free(bytes);
}
#define SEED_CLI(name, mode, literal) seed_cli(name, mode, literal, sizeof literal - 1)

static void cli_seeds(void)
{
    SEED_CLI("config_mlp", 0,
             "# an MLP on Fashion-MNIST\nmodel = mlp\nhidden = 512,256\nepochs = 3\n"
             "lr = 1e-3   # Adam's default\noptim = adamw\nschedule = cosine\nwarmup = 100\n"
             "augment = true\nval = 5000\nseed = 42\nthreads = 2\nout = runs/mlp\n");
    SEED_CLI("config_gpt", 0,
             "model=gpt\ndata=names\ntokenizer=bpe\nmerges=256\nshuffle-lines=yes\ncontext=64\n"
             "layers=2\nheads=4\ndim=128\ndropout=0.1\nclip=1\nval=0.1\nbatch=32\n"
             "steps-per-epoch=1000\nweight-decay=0.01\nmax-steps=5\nlog-every=10\nresume=false\n");
    SEED_CLI("config_bad", 0, "epochs 3\nunknown = 1\nlr = nan\n\t = \n#\n");
    SEED_CLI("args_vit", 1,
             "--model\0vit\0--dim=64\0--heads\0004\0--layers\0002\0--epochs=1\0--augment\0"
             "--optim\0sgd\0--lr\0000.1\0--schedule=step\0--data-dir\0/tmp/mnist");
    SEED_CLI("args_lenet", 1, "--model=lenet\0--batch=64\0--resume\0--config\0run.conf\0--out=x");
    SEED_CLI("args_bad", 1, "--epochs\0--=\0-x\0--lr=1e999\0--model");
    SEED_CLI("metadata_gpt", 2,
             "deepc\0" DC_VERSION "\0model\0gpt\0data\0names\0tokenizer\0char\0context\00032\0"
             "layers\0004\0heads\0004\0dim\000128\0dropout\0000\0lr\0000.001\0optim\0adamw\0"
             "seed\0007\0tokenizer_file\0tokenizer.txt\0vocab\00028");
    SEED_CLI("metadata_mlp", 2,
             "deepc\0" DC_VERSION "\0model\0mlp\0hidden\00064,32\0augment\0true\0val\0005000\0"
             "norm_mean\0000.2860\0norm_std\0000.3530");
}

int main(void)
{
    fuzz_init();
    safetensors_seeds();
    checkpoint_seeds();
    idx_seeds();
    text_seeds();
    cli_seeds();
    if (dc_live_tensors() != 0) {
        fprintf(stderr, "make_corpus: %lld tensors left\n", (long long)dc_live_tensors());
        failures++;
    }
    if (failures) return 1;
    printf("make_corpus: wrote fuzz/corpus/{safetensors,checkpoint,idx,text,cli_config}\n");
    return 0;
}
