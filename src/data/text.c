/* Text: a character-level tokenizer, a byte-level BPE tokenizer, and next-token windows
 * for language modelling.
 *
 * Byte-level BPE (Sennrich et al. 2016, in GPT-2's byte-level form): the base vocabulary
 * is the 256 byte values, so any byte string can be encoded; training repeatedly replaces
 * the most frequent adjacent pair of ids by a new id. Pair counts are kept incrementally
 * (only the words containing the merged pair are rescanned) and the best pair comes from a
 * max-heap with lazy deletion, so a merge costs about the size of the words it touches
 * instead of a pass over the whole corpus. Encoding applies the merges in rank order. */
#include "core/internal.h"
#include "data/data_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum { TOK_CHAR, TOK_BPE } tok_kind;

/* An open-addressing hash map from a 64-bit key (never EMPTY_KEY) to an int64 value. */
#define EMPTY_KEY UINT64_MAX
typedef struct {
    uint64_t *keys;
    int64_t *values;
    int64_t cap, len; /* cap a power of two */
} u64_map;

struct dc_tokenizer {
    tok_kind kind;
    int64_t vocab_size;
    /* bytes of every token: token id's bytes are pool[offset[id] .. offset[id + 1]) */
    char *pool;
    int64_t *offset;
    /* char: the code points, sorted (id = position) */
    uint32_t *chars;
    /* bpe: merge r joins merges[2r], merges[2r+1] into 256 + r; rank_of maps a pair key to r */
    int64_t n_merges;
    int32_t *merges;
    u64_map rank_of;
};

/* ---- Small utilities ------------------------------------------------------------------ */

static uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t)(uint32_t)a << 32 | (uint32_t)b; }

static uint64_t hash64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

static int map_init(u64_map *m, int64_t expected)
{
    int64_t cap = 16;
    while (cap < 2 * expected) cap *= 2;
    m->keys = malloc((size_t)cap * sizeof *m->keys);
    m->values = malloc((size_t)cap * sizeof *m->values);
    m->cap = cap;
    m->len = 0;
    if (!m->keys || !m->values) return -1;
    memset(m->keys, 0xff, (size_t)cap * sizeof *m->keys); /* all EMPTY_KEY */
    return 0;
}

static void map_free(u64_map *m)
{
    free(m->keys);
    free(m->values);
    memset(m, 0, sizeof *m);
}

static int64_t map_slot(const u64_map *m, uint64_t key)
{
    int64_t i = (int64_t)(hash64(key) & (uint64_t)(m->cap - 1));
    while (m->keys[i] != EMPTY_KEY && m->keys[i] != key) i = (i + 1) & (m->cap - 1);
    return i;
}

/* Value of key, or -1 if absent. */
static int64_t map_get(const u64_map *m, uint64_t key)
{
    if (!m->cap) return -1;
    int64_t i = map_slot(m, key);
    return m->keys[i] == key ? m->values[i] : -1;
}

static int map_put(u64_map *m, uint64_t key, int64_t value)
{
    if (2 * (m->len + 1) > m->cap) { /* keep the load under 1/2 */
        u64_map grown;
        if (map_init(&grown, m->len + 1) != 0) {
            map_free(&grown);
            return -1;
        }
        for (int64_t i = 0; i < m->cap; i++)
            if (m->keys[i] != EMPTY_KEY) {
                int64_t s = map_slot(&grown, m->keys[i]);
                grown.keys[s] = m->keys[i];
                grown.values[s] = m->values[i];
            }
        grown.len = m->len;
        map_free(m);
        *m = grown;
    }
    int64_t s = map_slot(m, key);
    if (m->keys[s] != key) {
        m->keys[s] = key;
        m->len++;
    }
    m->values[s] = value;
    return 0;
}

/* A growable array of T: `VEC_PUSH(ptr, len, cap, value)` evaluates to 0 or -1. */
static int vec_reserve(void **ptr, int64_t *cap, int64_t need, size_t elsize)
{
    if (need <= *cap) return 0;
    int64_t c = *cap ? *cap : 8;
    while (c < need) {
        if (c > INT64_MAX / 2) return -1;
        c *= 2;
    }
    if ((uint64_t)c > SIZE_MAX / elsize) return -1;
    void *grown = realloc(*ptr, (size_t)c * elsize);
    if (!grown) return -1;
    *ptr = grown;
    *cap = c;
    return 0;
}
#define VEC_PUSH(ptr, len, cap, value)                                                             \
    (vec_reserve((void **)&(ptr), &(cap), (len) + 1, sizeof *(ptr))                                \
         ? -1                                                                                      \
         : ((ptr)[(len)++] = (value), 0))

char *dc_read_text_file(const char *path, size_t *len)
{
    if (!path) return dc_error("dc_read_text_file: path is NULL");
    FILE *f = fopen(path, "rb");
    if (!f) return dc_error("cannot open %s: %s", path, strerror(errno));
    char *buf = NULL;
    int64_t n = 0, cap = 0;
    for (;;) {
        if (vec_reserve((void **)&buf, &cap, n + (1 << 16) + 1, 1) != 0) {
            free(buf);
            fclose(f);
            return dc_error("cannot read %s: out of memory", path);
        }
        size_t got = fread(buf + n, 1, (size_t)(cap - n - 1), f);
        n += (int64_t)got;
        if (got == 0) break;
    }
    bool failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return dc_error("cannot read %s: %s", path, strerror(errno));
    }
    buf[n] = '\0';
    if (len) *len = (size_t)n;
    return buf;
}

/* ---- UTF-8 --------------------------------------------------------------------------- */

/* Decode the code point at s[0..n) into *cp; returns its byte length, or 0 if the bytes
 * there are not valid UTF-8 (bad lead/continuation byte, overlong form, surrogate, or
 * beyond U+10FFFF). */
static int utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    static const uint32_t min_for_len[5] = {0, 0, 0x80, 0x800, 0x10000};
    int len = s[0] < 0x80             ? 1
              : (s[0] & 0xe0) == 0xc0 ? 2
              : (s[0] & 0xf0) == 0xe0 ? 3
              : (s[0] & 0xf8) == 0xf0 ? 4
                                      : 0;
    if (!len || (size_t)len > n) return 0;
    uint32_t c = len == 1 ? s[0] : s[0] & (0x7f >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        c = c << 6 | (s[i] & 0x3f);
    }
    if (c < min_for_len[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
    *cp = c;
    return len;
}

static int utf8_encode(uint32_t c, char *out)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xc0 | c >> 6);
        out[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xe0 | c >> 12);
        out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        out[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | c >> 18);
    out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
    out[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

/* ---- Common tokenizer parts ----------------------------------------------------------- */

void dc_tokenizer_free(dc_tokenizer *tok)
{
    if (!tok) return;
    free(tok->pool);
    free(tok->offset);
    free(tok->chars);
    free(tok->merges);
    map_free(&tok->rank_of);
    free(tok);
}

int64_t dc_tokenizer_vocab_size(const dc_tokenizer *tok) { return tok ? tok->vocab_size : 0; }

int64_t dc_tokenizer_num_merges(const dc_tokenizer *tok) { return tok ? tok->n_merges : 0; }

int dc_tokenizer_merge(const dc_tokenizer *tok, int64_t r, int64_t *left, int64_t *right)
{
    if (!tok || r < 0 || r >= tok->n_merges) {
        dc_error("dc_tokenizer_merge: no merge %lld", (long long)r);
        return -1;
    }
    if (left) *left = tok->merges[2 * r];
    if (right) *right = tok->merges[2 * r + 1];
    return 0;
}

const char *dc_tokenizer_token(const dc_tokenizer *tok, int64_t id, size_t *len)
{
    if (!tok || id < 0 || id >= tok->vocab_size)
        return dc_error("dc_tokenizer_token: id %lld is not in the vocabulary", (long long)id);
    if (len) *len = (size_t)(tok->offset[id + 1] - tok->offset[id]);
    return tok->pool + tok->offset[id];
}

/* Fill pool/offset from the vocabulary (chars, or bytes + merges). The lengths come first
 * (a merged token is as long as its two parts): merges that keep joining a token with itself
 * double its length each time, so a 63-line file would describe a token of 2^63 bytes. Any
 * token over DC_TOKEN_MAX_BYTES stops the build before anything is allocated for the bytes.
 * Returns 0; -1 out of memory; -2 with *too_long = the first id over the limit. */
static int build_token_bytes(dc_tokenizer *tok, int64_t *too_long)
{
    int64_t v = tok->vocab_size, total = 0;
    tok->offset = malloc((size_t)(v + 1) * sizeof *tok->offset);
    if (!tok->offset) return -1;
    tok->offset[0] = 0;
    for (int64_t id = 0; id < v; id++) {
        int64_t n;
        if (tok->kind == TOK_CHAR) {
            char tmp[4];
            n = utf8_encode(tok->chars[id], tmp);
        } else if (id < 256) {
            n = 1;
        } else {
            const int32_t *m = tok->merges + 2 * (id - 256);
            n = (tok->offset[m[0] + 1] - tok->offset[m[0]]) +
                (tok->offset[m[1] + 1] - tok->offset[m[1]]); /* each part <= the limit */
        }
        if (n > DC_TOKEN_MAX_BYTES || __builtin_add_overflow(total, n, &total)) {
            *too_long = id;
            return -2;
        }
        tok->offset[id + 1] = total;
    }
    tok->pool = malloc((size_t)(total ? total : 1));
    if (!tok->pool) return -1;
    for (int64_t id = 0; id < v; id++) {
        char *dst = tok->pool + tok->offset[id];
        if (tok->kind == TOK_CHAR) {
            utf8_encode(tok->chars[id], dst);
        } else if (id < 256) {
            *dst = (char)id;
        } else {
            const int32_t *m = tok->merges + 2 * (id - 256);
            size_t la = (size_t)(tok->offset[m[0] + 1] - tok->offset[m[0]]);
            memcpy(dst, tok->pool + tok->offset[m[0]], la);
            memcpy(dst + la, tok->pool + tok->offset[m[1]],
                   (size_t)(tok->offset[m[1] + 1] - tok->offset[m[1]]));
        }
    }
    return 0;
}

/* A BPE tokenizer from n merges (copied; each uses earlier ids). A token longer than
 * DC_TOKEN_MAX_BYTES is an error naming the merge: its line of `path` when loading, its
 * rank otherwise. */
static dc_tokenizer *bpe_from_merges(const int32_t *merges, int64_t n, const char *path)
{
    dc_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) return dc_error("dc_tokenizer: out of memory");
    tok->kind = TOK_BPE;
    tok->n_merges = n;
    tok->vocab_size = 256 + n;
    tok->merges = malloc((size_t)(2 * n + 1) * sizeof *tok->merges);
    if (!tok->merges) goto oom;
    if (n > 0) memcpy(tok->merges, merges, (size_t)(2 * n) * sizeof *merges); /* NULL if none */
    int64_t bad = -1;
    int rc = build_token_bytes(tok, &bad);
    if (rc == -2) {
        int64_t r = bad - 256; /* merges[2r..] made it; the file's line r + 2 */
        if (path)
            dc_error("dc_tokenizer_load: %s:%lld: merge \"%d %d\" makes a token longer than the "
                     "limit of %d bytes (DC_TOKEN_MAX_BYTES)",
                     path, (long long)(r + 2), merges[2 * r], merges[2 * r + 1],
                     DC_TOKEN_MAX_BYTES);
        else
            dc_error("dc_tokenizer: merge %lld (\"%d %d\") makes a token longer than the limit "
                     "of %d bytes (DC_TOKEN_MAX_BYTES)",
                     (long long)r, merges[2 * r], merges[2 * r + 1], DC_TOKEN_MAX_BYTES);
        dc_tokenizer_free(tok);
        return NULL;
    }
    if (rc != 0 || map_init(&tok->rank_of, n) != 0) goto oom;
    for (int64_t r = 0; r < n; r++)
        if (map_put(&tok->rank_of, pair_key(merges[2 * r], merges[2 * r + 1]), r) != 0) goto oom;
    return tok;
oom:
    dc_tokenizer_free(tok);
    return dc_error("dc_tokenizer: out of memory");
}

/* ---- Character tokenizer -------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* A char tokenizer over `n` distinct sorted code points (taken over). */
static dc_tokenizer *char_from_sorted(uint32_t *chars, int64_t n)
{
    dc_tokenizer *tok = calloc(1, sizeof *tok);
    if (!tok) {
        free(chars);
        return dc_error("dc_tokenizer: out of memory");
    }
    tok->kind = TOK_CHAR;
    tok->chars = chars;
    tok->vocab_size = n;
    int64_t unused;
    if (build_token_bytes(tok, &unused) != 0) { /* tokens of <= 4 bytes: only memory fails */
        dc_tokenizer_free(tok);
        return dc_error("dc_tokenizer: out of memory");
    }
    return tok;
}

dc_tokenizer *dc_tokenizer_char_build(const char *text, size_t len)
{
    if (!text && len) return dc_error("dc_tokenizer_char_build: text is NULL");
    /* ASCII in a bitmap; other code points collected, then sorted and deduplicated */
    bool ascii[128] = {false};
    uint32_t *chars = NULL;
    int64_t n = 0, cap = 0;
    const unsigned char *s = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int l = utf8_decode(s + i, len - i, &cp);
        if (!l) {
            free(chars);
            return dc_error("dc_tokenizer_char_build: invalid UTF-8 at byte %zu (0x%02x)", i, s[i]);
        }
        i += (size_t)l;
        if (cp < 128) ascii[cp] = true;
        else if (VEC_PUSH(chars, n, cap, cp) != 0) {
            free(chars);
            return dc_error("dc_tokenizer_char_build: out of memory");
        }
    }
    for (uint32_t c = 0; c < 128; c++)
        if (ascii[c] && VEC_PUSH(chars, n, cap, c) != 0) {
            free(chars);
            return dc_error("dc_tokenizer_char_build: out of memory");
        }
    if (n) qsort(chars, (size_t)n, sizeof *chars, cmp_u32);
    int64_t unique = 0;
    for (int64_t i = 0; i < n; i++)
        if (unique == 0 || chars[unique - 1] != chars[i]) chars[unique++] = chars[i];
    return char_from_sorted(chars, unique);
}

static int64_t char_id(const dc_tokenizer *tok, uint32_t cp)
{
    int64_t lo = 0, hi = tok->vocab_size - 1;
    while (lo <= hi) {
        int64_t mid = (lo + hi) / 2;
        if (tok->chars[mid] == cp) return mid;
        if (tok->chars[mid] < cp) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}

static int64_t *char_encode(const dc_tokenizer *tok, const char *text, size_t len, int64_t *n_ids)
{
    int64_t *ids = malloc((len ? len : 1) * sizeof *ids); /* at most one id per byte */
    if (!ids) return dc_error("dc_tokenizer_encode: out of memory");
    int64_t lut[128]; /* ASCII fast path */
    for (uint32_t c = 0; c < 128; c++) lut[c] = char_id(tok, c);
    const unsigned char *s = (const unsigned char *)text;
    int64_t n = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int l = s[i] < 128 ? (cp = s[i], 1) : utf8_decode(s + i, len - i, &cp);
        int64_t id = !l ? -1 : cp < 128 ? lut[cp] : char_id(tok, cp);
        if (id < 0) {
            free(ids);
            if (!l)
                return dc_error("dc_tokenizer_encode: invalid UTF-8 at byte %zu (0x%02x)", i, s[i]);
            char shown[5] = {0};
            utf8_encode(cp, shown);
            return dc_error("dc_tokenizer_encode: character U+%04X '%s' at byte %zu is not in "
                            "the vocabulary",
                            cp, cp >= 32 && cp != 127 ? shown : "?", i);
        }
        ids[n++] = id;
        i += (size_t)l;
    }
    *n_ids = n;
    return ids;
}

/* ---- Pretokenisation (shared by BPE training and encoding) ----------------------------- */

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Length of the word starting at text[i]: a run of non-space bytes, led by one ' ' when
 * the text there is " word"; otherwise a run of whitespace that leaves the last ' ' for the
 * following word (like GPT-2's "\s+(?!\S)"). So "a  b\n" -> "a", " ", " b", "\n". */
static size_t word_length(const unsigned char *s, size_t len, size_t i)
{
    size_t j = i;
    if (s[j] == ' ' && j + 1 < len && !is_space(s[j + 1])) j++; /* " word" */
    if (!is_space(s[j])) {
        while (j < len && !is_space(s[j])) j++;
        return j - i;
    }
    while (j < len && is_space(s[j])) j++;
    if (j < len && j - i > 1 && s[j - 1] == ' ') j--; /* leave the space to the next word */
    return j - i;
}

/* ---- BPE training -------------------------------------------------------------------- */

typedef struct {
    int32_t *ids; /* the word's current tokens */
    int64_t len;
    int64_t count; /* occurrences in the text */
    int64_t stamp; /* last merge that visited the word */
} bpe_word;

typedef struct {
    int32_t a, b;
    int64_t count;
    int32_t *words; /* words that contain (or once contained) the pair */
    int64_t n_words, cap_words;
    int64_t stamp, count_before; /* for collecting the pairs a merge changed */
} bpe_pair;

typedef struct {
    int64_t count;
    uint64_t key;
    int64_t pair;
} heap_entry;

typedef struct {
    bpe_word *words;
    int64_t n_words, cap_words;
    bpe_pair *pairs;
    int64_t n_pairs, cap_pairs;
    u64_map pair_index; /* pair key -> index in pairs */
    heap_entry *heap;
    int64_t heap_len, heap_cap;
    int64_t *changed; /* pairs whose count changed in this merge */
    int64_t n_changed, cap_changed;
    int64_t step; /* current merge, from 1 */
} bpe_trainer;

/* Order of the heap: more frequent first, then the smaller (left, right). */
static bool heap_before(const heap_entry *x, const heap_entry *y)
{
    return x->count > y->count || (x->count == y->count && x->key < y->key);
}

static int heap_push(bpe_trainer *t, heap_entry e)
{
    if (VEC_PUSH(t->heap, t->heap_len, t->heap_cap, e) != 0) return -1;
    for (int64_t i = t->heap_len - 1; i > 0;) {
        int64_t parent = (i - 1) / 2;
        if (!heap_before(&t->heap[i], &t->heap[parent])) break;
        heap_entry tmp = t->heap[i];
        t->heap[i] = t->heap[parent];
        t->heap[parent] = tmp;
        i = parent;
    }
    return 0;
}

static heap_entry heap_pop(bpe_trainer *t)
{
    heap_entry top = t->heap[0];
    t->heap[0] = t->heap[--t->heap_len];
    for (int64_t i = 0;;) {
        int64_t l = 2 * i + 1, r = l + 1, best = i;
        if (l < t->heap_len && heap_before(&t->heap[l], &t->heap[best])) best = l;
        if (r < t->heap_len && heap_before(&t->heap[r], &t->heap[best])) best = r;
        if (best == i) break;
        heap_entry tmp = t->heap[i];
        t->heap[i] = t->heap[best];
        t->heap[best] = tmp;
        i = best;
    }
    return top;
}

/* count(a, b) += delta for word w; a pair seen for the first time is created. The word is
 * added to the pair's list when `track` (for pairs a merge creates). */
static int pair_add(bpe_trainer *t, int32_t a, int32_t b, int64_t delta, int32_t w, bool track)
{
    uint64_t key = pair_key(a, b);
    int64_t p = map_get(&t->pair_index, key);
    if (p < 0) {
        bpe_pair fresh = {.a = a, .b = b};
        p = t->n_pairs;
        if (VEC_PUSH(t->pairs, t->n_pairs, t->cap_pairs, fresh) != 0 ||
            map_put(&t->pair_index, key, p) != 0)
            return -1;
    }
    bpe_pair *pair = &t->pairs[p];
    if (pair->stamp != t->step) { /* first change in this merge: remember where it started */
        pair->stamp = t->step;
        pair->count_before = pair->count;
        if (VEC_PUSH(t->changed, t->n_changed, t->cap_changed, p) != 0) return -1;
    }
    pair->count += delta;
    if (track && (pair->n_words == 0 || pair->words[pair->n_words - 1] != w))
        if (VEC_PUSH(pair->words, pair->n_words, pair->cap_words, w) != 0) return -1;
    return 0;
}

/* Push the pairs whose count changed since the merge began (the heap keeps stale entries;
 * heap_pop's caller skips an entry whose count is no longer the pair's). */
static int push_changed(bpe_trainer *t)
{
    for (int64_t i = 0; i < t->n_changed; i++) {
        bpe_pair *p = &t->pairs[t->changed[i]];
        if (p->count != p->count_before && p->count > 0 &&
            heap_push(t, (heap_entry){p->count, pair_key(p->a, p->b), t->changed[i]}) != 0)
            return -1;
    }
    t->n_changed = 0;
    return 0;
}

/* Split the text into words and count each distinct word once. */
static int collect_words(bpe_trainer *t, const unsigned char *s, size_t len)
{
    typedef struct {
        size_t start, len;
    } span;
    span *spans = NULL; /* text span of each distinct word, to compare on hash collisions */
    int64_t n_spans = 0, cap_spans = 0;
    u64_map by_hash; /* FNV-1a hash of the word -> first word index (probe on collision) */
    if (map_init(&by_hash, 1024) != 0) goto oom;
    for (size_t i = 0; i < len;) {
        size_t n = word_length(s, len, i);
        uint64_t h = 0xcbf29ce484222325ULL;
        for (size_t k = 0; k < n; k++) h = (h ^ s[i + k]) * 0x100000001b3ULL;
        /* probe successive keys h, h+1, ... until the word or a free key is found */
        int64_t w;
        for (uint64_t key = h;; key++) {
            if (key == EMPTY_KEY) continue;
            w = map_get(&by_hash, key);
            if (w < 0) {
                bpe_word fresh = {.len = (int64_t)n, .count = 0};
                fresh.ids = malloc(n * sizeof *fresh.ids);
                if (!fresh.ids) goto oom;
                for (size_t k = 0; k < n; k++) fresh.ids[k] = s[i + k];
                w = t->n_words;
                if (VEC_PUSH(t->words, t->n_words, t->cap_words, fresh) != 0) {
                    free(fresh.ids);
                    goto oom;
                }
                if (VEC_PUSH(spans, n_spans, cap_spans, ((span){i, n})) != 0 ||
                    map_put(&by_hash, key, w) != 0)
                    goto oom;
                break;
            }
            if (spans[w].len == n && memcmp(s + spans[w].start, s + i, n) == 0) break;
        }
        t->words[w].count++;
        i += n;
    }
    free(spans);
    map_free(&by_hash);
    return 0;
oom:
    free(spans);
    map_free(&by_hash);
    return -1;
}

static void trainer_free(bpe_trainer *t)
{
    for (int64_t i = 0; i < t->n_words; i++) free(t->words[i].ids);
    for (int64_t i = 0; i < t->n_pairs; i++) free(t->pairs[i].words);
    free(t->words);
    free(t->pairs);
    free(t->heap);
    free(t->changed);
    map_free(&t->pair_index);
}

/* Replace every (a, b) in word w by c, updating pair counts: the word's old pairs are
 * removed and its new pairs added (pairs away from a merge cancel out). */
static int merge_word(bpe_trainer *t, int32_t w, int32_t a, int32_t b, int32_t c)
{
    bpe_word *word = &t->words[w];
    int32_t *ids = word->ids;
    int64_t len = word->len, cnt = word->count;
    bool found = false;
    for (int64_t i = 0; i + 1 < len && !found; i++) found = ids[i] == a && ids[i + 1] == b;
    if (!found) return 0; /* a stale entry of the pair's word list */
    for (int64_t i = 0; i + 1 < len; i++)
        if (pair_add(t, ids[i], ids[i + 1], -cnt, w, false) != 0) return -1;
    int64_t out = 0;
    for (int64_t i = 0; i < len; i++) {
        if (i + 1 < len && ids[i] == a && ids[i + 1] == b) {
            ids[out++] = c;
            i++;
        } else {
            ids[out++] = ids[i];
        }
    }
    word->len = out;
    for (int64_t i = 0; i + 1 < out; i++)
        if (pair_add(t, ids[i], ids[i + 1], cnt, w, ids[i] == c || ids[i + 1] == c) != 0) return -1;
    return 0;
}

dc_tokenizer *dc_tokenizer_bpe_train(const char *text, size_t len, int n_merges)
{
    if (!text && len) return dc_error("dc_tokenizer_bpe_train: text is NULL");
    if (n_merges < 0 || n_merges > INT32_MAX - 256) /* ids 256 + r are int32 */
        return dc_error("dc_tokenizer_bpe_train: n_merges must be in [0, %d] (got %d)",
                        INT32_MAX - 256, n_merges);
    bpe_trainer t = {0};
    int32_t *merges = malloc((2 * (size_t)n_merges + 1) * sizeof *merges);
    /* byte length of every id, so no merge makes a token over DC_TOKEN_MAX_BYTES */
    int64_t *tok_len = malloc((256 + (size_t)n_merges) * sizeof *tok_len);
    int64_t done = 0;
    if (tok_len)
        for (int i = 0; i < 256; i++) tok_len[i] = 1;
    if (!merges || !tok_len || map_init(&t.pair_index, 4096) != 0 ||
        collect_words(&t, (const unsigned char *)text, len) != 0)
        goto oom;
    /* initial pair counts */
    t.step = 1;
    for (int64_t w = 0; w < t.n_words; w++)
        for (int64_t i = 0; i + 1 < t.words[w].len; i++)
            if (pair_add(&t, t.words[w].ids[i], t.words[w].ids[i + 1], t.words[w].count, (int32_t)w,
                         true) != 0)
                goto oom;
    if (push_changed(&t) != 0) goto oom;
    while (done < n_merges && t.heap_len > 0) {
        heap_entry best = heap_pop(&t);
        bpe_pair *p = &t.pairs[best.pair];
        if (best.count != p->count) continue; /* stale */
        if (p->count < 2) break;              /* nothing left worth merging */
        int32_t a = p->a, b = p->b, c = (int32_t)(256 + done);
        /* too long: skipped (the pair comes back only if its count changes, and is skipped
         * again); runs of one repeated byte would otherwise double a token per merge */
        if (tok_len[a] + tok_len[b] > DC_TOKEN_MAX_BYTES) continue;
        tok_len[c] = tok_len[a] + tok_len[b];
        merges[2 * done] = a;
        merges[2 * done + 1] = b;
        done++;
        t.step++;
        /* the pair's word list is not modified below (new pairs all contain c) */
        int32_t *list = p->words;
        int64_t n_list = p->n_words;
        for (int64_t k = 0; k < n_list; k++) {
            int32_t w = list[k];
            if (t.words[w].stamp == t.step) continue;
            t.words[w].stamp = t.step;
            if (merge_word(&t, w, a, b, c) != 0) goto oom;
        }
        bpe_pair *merged = &t.pairs[best.pair]; /* pairs may have moved */
        free(merged->words);
        merged->words = NULL;
        merged->n_words = merged->cap_words = 0;
        if (push_changed(&t) != 0) goto oom;
    }
    trainer_free(&t);
    free(tok_len);
    dc_tokenizer *tok = bpe_from_merges(merges, done, NULL);
    free(merges);
    return tok;
oom:
    trainer_free(&t);
    free(tok_len);
    free(merges);
    return dc_error("dc_tokenizer_bpe_train: out of memory");
}

/* ---- BPE encoding -------------------------------------------------------------------- */

/* Encode one word in place: ids[0..*n) start as its bytes; repeatedly merge every
 * occurrence of the adjacent pair with the lowest rank until no pair has a merge. */
static void bpe_encode_word(const dc_tokenizer *tok, int64_t *ids, int64_t *n)
{
    int64_t len = *n;
    while (len > 1) {
        int64_t best_rank = -1;
        for (int64_t i = 0; i + 1 < len; i++) {
            int64_t r = map_get(&tok->rank_of, pair_key((int32_t)ids[i], (int32_t)ids[i + 1]));
            if (r >= 0 && (best_rank < 0 || r < best_rank)) best_rank = r;
        }
        if (best_rank < 0) break;
        int64_t a = tok->merges[2 * best_rank], b = tok->merges[2 * best_rank + 1], out = 0;
        for (int64_t i = 0; i < len; i++) {
            if (i + 1 < len && ids[i] == a && ids[i + 1] == b) {
                ids[out++] = 256 + best_rank;
                i++;
            } else {
                ids[out++] = ids[i];
            }
        }
        len = out;
    }
    *n = len;
}

static int64_t *bpe_encode(const dc_tokenizer *tok, const char *text, size_t len, int64_t *n_ids)
{
    int64_t *ids = malloc((len ? len : 1) * sizeof *ids); /* at most one id per byte */
    if (!ids) return dc_error("dc_tokenizer_encode: out of memory");
    const unsigned char *s = (const unsigned char *)text;
    int64_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t w = word_length(s, len, i);
        int64_t wn = (int64_t)w;
        for (size_t k = 0; k < w; k++) ids[n + (int64_t)k] = s[i + k];
        bpe_encode_word(tok, ids + n, &wn);
        n += wn;
        i += w;
    }
    *n_ids = n;
    return ids;
}

/* ---- Encode / decode ------------------------------------------------------------------- */

int64_t *dc_tokenizer_encode(const dc_tokenizer *tok, const char *text, size_t len, int64_t *n_ids)
{
    if (!tok || !n_ids || (!text && len)) return dc_error("dc_tokenizer_encode: NULL argument");
    *n_ids = 0;
    return tok->kind == TOK_CHAR ? char_encode(tok, text, len, n_ids)
                                 : bpe_encode(tok, text, len, n_ids);
}

dc_tensor *dc_tokenizer_encode_tensor(const dc_tokenizer *tok, const char *text, size_t len)
{
    int64_t n;
    int64_t *ids = dc_tokenizer_encode(tok, text, len, &n);
    if (!ids) return NULL;
    dc_tensor *t = dc__alloc_result(DC_I64, 1, &n);
    if (t) memcpy(dc_data(t), ids, (size_t)n * sizeof *ids);
    free(ids);
    return dc__publish(t);
}

char *dc_tokenizer_decode(const dc_tokenizer *tok, const int64_t *ids, int64_t n, size_t *len)
{
    if (!tok || n < 0 || (!ids && n)) return dc_error("dc_tokenizer_decode: NULL argument");
    size_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= tok->vocab_size)
            return dc_error("dc_tokenizer_decode: id %lld (position %lld) is not in the "
                            "vocabulary of %lld tokens",
                            (long long)ids[i], (long long)i, (long long)tok->vocab_size);
        total += (size_t)(tok->offset[ids[i] + 1] - tok->offset[ids[i]]);
    }
    char *out = malloc(total + 1);
    if (!out) return dc_error("dc_tokenizer_decode: out of memory");
    size_t pos = 0;
    for (int64_t i = 0; i < n; i++) {
        size_t l = (size_t)(tok->offset[ids[i] + 1] - tok->offset[ids[i]]);
        memcpy(out + pos, tok->pool + tok->offset[ids[i]], l);
        pos += l;
    }
    out[pos] = '\0';
    if (len) *len = pos;
    return out;
}

/* ---- Save / load ---------------------------------------------------------------------- */

int dc_tokenizer_save(const dc_tokenizer *tok, const char *path)
{
    if (!tok || !path) {
        dc_error("dc_tokenizer_save: NULL argument");
        return -1;
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        dc_error("dc_tokenizer_save: cannot create %s: %s", tmp, strerror(errno));
        return -1;
    }
    if (tok->kind == TOK_CHAR) {
        fprintf(f, "deepc-tokenizer char 1\n");
        for (int64_t i = 0; i < tok->vocab_size; i++) fprintf(f, "%x\n", tok->chars[i]);
    } else {
        fprintf(f, "deepc-tokenizer bpe 1\n");
        for (int64_t r = 0; r < tok->n_merges; r++)
            fprintf(f, "%d %d\n", tok->merges[2 * r], tok->merges[2 * r + 1]);
    }
    bool failed = ferror(f) != 0;
    failed |= fclose(f) != 0;
    if (failed || rename(tmp, path) != 0) {
        dc_error("dc_tokenizer_save: cannot write %s: %s", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

static bool is_dec_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_hex_digit(char c)
{
    return is_dec_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

dc_tokenizer *dc_tokenizer_load(const char *path)
{
    size_t len;
    char *text = dc_read_text_file(path, &len);
    if (!text) return NULL;
    dc_tokenizer *tok = NULL;
    int32_t *merges = NULL;
    uint32_t *chars = NULL;
    int64_t n = 0, cap = 0, line_no = 1;
    char *line = text, *next = strchr(line, '\n');
    bool is_char = false;
    size_t text_len = strlen(text);
    if (text_len != len) { /* the line scan below stops at a NUL: the rest would be ignored */
        for (const char *c = text; c < text + text_len; c++) line_no += *c == '\n';
        dc_error("dc_tokenizer_load: %s:%lld: NUL byte at byte %zu (not a tokenizer file)", path,
                 (long long)line_no, text_len);
        goto done;
    }
    if (next && strncmp(line, "deepc-tokenizer char 1\n", 23) == 0) is_char = true;
    else if (!next || strncmp(line, "deepc-tokenizer bpe 1\n", 22) != 0) {
        dc_error("dc_tokenizer_load: %s: not a deepc tokenizer file (bad first line)", path);
        goto done;
    }
    for (line = next + 1; *line; line = next + 1) {
        line_no++;
        next = strchr(line, '\n');
        if (!next) {
            dc_error("dc_tokenizer_load: %s:%lld: truncated line", path, (long long)line_no);
            goto done;
        }
        char *end;
        if (is_char) {
            errno = 0;
            unsigned long cp = strtoul(line, &end, 16);
            /* strtoul would skip spaces (newlines too) and take signs: a digit must lead */
            bool ok = is_hex_digit(line[0]) && end != line && end == next && errno == 0 && cp <= 0x10ffff &&
                      (cp < 0xd800 || cp > 0xdfff) && (n == 0 || cp > chars[n - 1]);
            if (!ok) {
                dc_error("dc_tokenizer_load: %s:%lld: expected a hex code point above the "
                         "previous one",
                         path, (long long)line_no);
                goto done;
            }
            if (VEC_PUSH(chars, n, cap, (uint32_t)cp) != 0) goto oom;
        } else {
            long a = strtol(line, &end, 10), b = -1;
            bool ok = is_dec_digit(line[0]) && end != line && *end == ' ';
            if (ok) {
                char *second = end + 1;
                b = strtol(second, &end, 10);
                ok = is_dec_digit(second[0]) && end != second && end == next;
            }
            int64_t limit = 256 + n / 2; /* ids that exist before this merge */
            if (!ok || a < 0 || b < 0 || a >= limit || b >= limit) {
                dc_error("dc_tokenizer_load: %s:%lld: expected a merge \"left right\" of ids "
                         "below %lld",
                         path, (long long)line_no, (long long)limit);
                goto done;
            }
            if (limit == INT32_MAX) { /* ids are int32 */
                dc_error("dc_tokenizer_load: %s:%lld: more than %d merges", path,
                         (long long)line_no, INT32_MAX - 256);
                goto done;
            }
            if (VEC_PUSH(merges, n, cap, (int32_t)a) != 0 ||
                VEC_PUSH(merges, n, cap, (int32_t)b) != 0)
                goto oom;
        }
    }
    if (is_char) {
        tok = char_from_sorted(chars, n);
        chars = NULL;
    } else {
        tok = bpe_from_merges(merges, n / 2, path);
    }
    goto done;
oom:
    dc_error("dc_tokenizer_load: %s: out of memory", path);
done:
    free(text);
    free(merges);
    free(chars);
    return tok;
}

/* ---- Language-modelling windows --------------------------------------------------------- */

/* Windows of tokens[0..n) as a dataset: inputs[i] = tokens[i*stride .. +T), targets the
 * same shifted by one. */
static dc_dataset *windows_dataset(const int64_t *tokens, int64_t n, int64_t T, int64_t stride,
                                   const char *part)
{
    if (n < T + 1)
        return dc_error("dc_lm_windows: the %s part has %lld tokens, fewer than one window of "
                        "T + 1 = %lld",
                        part, (long long)n, (long long)(T + 1));
    int64_t m = (n - T - 1) / stride + 1;
    dc_tensor *x = dc__alloc_result(DC_I64, 2, (int64_t[]){m, T});
    dc_tensor *y = x ? dc__alloc_result(DC_I64, 2, (int64_t[]){m, T}) : NULL;
    if (!y) {
        dc_tensor_free(x);
        return NULL;
    }
    int64_t *xd = dc_data(x), *yd = dc_data(y);
    for (int64_t i = 0; i < m; i++) {
        memcpy(xd + i * T, tokens + i * stride, (size_t)T * sizeof *tokens);
        memcpy(yd + i * T, tokens + i * stride + 1, (size_t)T * sizeof *tokens);
    }
    return dc__dataset_adopt(x, y);
}

int dc_lm_windows(const int64_t *tokens, int64_t n, int64_t T, int64_t stride, double val_fraction,
                  dc_dataset **train, dc_dataset **val)
{
    if (train) *train = NULL;
    if (val) *val = NULL;
    if (!tokens || !train || T < 1 || stride < 1 || !(val_fraction >= 0 && val_fraction < 1)) {
        dc_error("dc_lm_windows: bad arguments (tokens %s, T = %lld, stride = %lld, "
                 "val_fraction = %g)",
                 tokens ? "given" : "NULL", (long long)T, (long long)stride, val_fraction);
        return -1;
    }
    int64_t n_val = (int64_t)(val_fraction * (double)n + 0.5);
    *train = windows_dataset(tokens, n - n_val, T, stride, "training");
    if (!*train) return -1;
    if (val) {
        *val = windows_dataset(tokens + (n - n_val), n_val, T, stride, "validation");
        if (!*val) {
            dc_dataset_free(*train);
            *train = NULL;
            return -1;
        }
    }
    return 0;
}

int dc_lm_random_batch(const int64_t *tokens, int64_t n, int64_t B, int64_t T, dc_rng *rng,
                       dc_tensor **x, dc_tensor **y)
{
    if (x) *x = NULL;
    if (y) *y = NULL;
    if (!tokens || !x || !y || B < 1 || T < 1 || n < T + 1) {
        dc_error("dc_lm_random_batch: need B, T >= 1 and at least T + 1 = %lld tokens (got "
                 "%lld)",
                 (long long)(T + 1), (long long)n);
        return -1;
    }
    dc_tensor *bx = dc__alloc_result(DC_I64, 2, (int64_t[]){B, T});
    dc_tensor *by = bx ? dc__alloc_result(DC_I64, 2, (int64_t[]){B, T}) : NULL;
    if (!by) {
        dc_tensor_free(bx);
        return -1;
    }
    int64_t *xd = dc_data(bx), *yd = dc_data(by);
    dc_rng fallback;
    if (!rng) { /* the global generator, via one draw, keeps this thread-compatible */
        dc_rng_seed(&fallback, dc_rng_u64(NULL));
        rng = &fallback;
    }
    for (int64_t i = 0; i < B; i++) {
        int64_t start = dc__rng_below(rng, n - T);
        memcpy(xd + i * T, tokens + start, (size_t)T * sizeof *tokens);
        memcpy(yd + i * T, tokens + start + 1, (size_t)T * sizeof *tokens);
    }
    *x = dc__publish(bx);
    *y = dc__publish(by);
    return *x && *y ? 0 : -1;
}
