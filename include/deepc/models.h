/* deepc models: the architectures of the book's chapter 5, built from the modules of nn.h.
 *
 * Every builder returns a module tree the caller frees with dc_module_free, or NULL with
 * dc_last_error() set. Parameter names follow PyTorch's state_dict conventions (ResNets use
 * torchvision's exact names: conv1, bn1, layer1.0.conv1, layer2.0.downsample.0, fc), so a
 * checkpoint maps 1:1 onto the equivalent PyTorch model. `rng` draws the initial weights
 * (NULL: the global generator); a model with dropout keeps the pointer, so the generator
 * must outlive it.
 *
 * Single-input models (MLP, LeNet, ResNets, GPT, ViT and the blocks that take one
 * sequence) work with dc_forward and dc_module_summary; models with two inputs have a typed
 * forward function (dc_transformer_forward, dc_cross_attention_block_forward). */
#ifndef DEEPC_MODELS_H
#define DEEPC_MODELS_H

#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Multi-layer perceptron (src/nn/models_conv.c; book §5.1, fig. 5.1) ---------------- */

/* n_layers fully connected layers widths[0] -> widths[1] -> ... -> widths[n_layers] (so
 * widths has n_layers + 1 entries), each but the last followed by `activation` and, when
 * dropout > 0, Dropout(dropout). A Sequential with torch's child names ("0", "1", ...).
 * Input [..., widths[0]] -> [..., widths[n_layers]]. */
dc_module *dc_mlp_new(int n_layers, const int64_t *widths, dc_activation activation,
                      double dropout, dc_rng *rng);

/* ---- Convolutional networks (src/nn/models_conv.c; book §5.2) --------------------------- */

/* The book's LeNet-like network (fig. 5.2) for x [N, 1, 28, 28]:
 *   conv 1->32 k5 (32x24x24) -> maxpool 3 (32x8x8) -> ReLU -> conv 32->64 k5 (64x4x4)
 *   -> maxpool 2 (64x2x2) -> ReLU -> flatten (256) -> fc 200 -> ReLU -> fc num_classes
 * as a Sequential (children "0" ... "9"); 105,506 parameters for 10 classes. */
dc_module *dc_lenet_new(int64_t num_classes, dc_rng *rng);

/* Residual blocks (book fig. 5.3, 5.4) with torchvision's names. Conv weights get
 * torchvision's initialisation (kaiming normal, fan_out, ReLU gain); BatchNorms weight 1,
 * bias 0. A "downsample" shortcut (1x1 conv with the block's stride, no bias, + BatchNorm)
 * is added when stride != 1 or the channel count changes; otherwise the shortcut is x.
 *
 * Basic block (ResNet-18/34): y = relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)),
 * conv1 3x3 with `stride`, conv2 3x3; out_channels = channels. */
dc_module *dc_resnet_basic_block_new(int64_t in_channels, int64_t channels, int stride,
                                     dc_rng *rng);
/* Bottleneck block (ResNet-50, book fig. 5.3/5.4): 1x1 conv to `channels`, 3x3 conv with
 * `stride`, 1x1 conv to 4 * channels, each followed by BatchNorm, ReLU between, the sum
 * followed by ReLU. The stride sits on the 3x3 conv as in torchvision ("ResNet v1.5"); the
 * book's figure 5.4 puts it on the first 1x1 conv (same parameters, different output). */
dc_module *dc_resnet_bottleneck_new(int64_t in_channels, int64_t channels, int stride,
                                    dc_rng *rng);

typedef enum { DC_RESNET_BASIC, DC_RESNET_BOTTLENECK } dc_resnet_block;

/* A ResNet: stem, n_stages stages ("layer1", ...) of blocks[i] blocks with widths[i]
 * channels (x4 at the output of bottleneck blocks), the first block of every stage but the
 * first with stride 2, then global average pooling, flatten and "fc".
 * Stem: imagenet_stem = conv 7x7 stride 2 padding 3 -> bn1 -> ReLU -> maxpool 3 stride 2
 * padding 1 (book fig. 5.5); otherwise conv 3x3 padding 1 -> bn1 -> ReLU (small images). */
typedef struct {
    dc_resnet_block block;
    int n_stages; /* 1 to 4 */
    int blocks[4];
    int64_t widths[4];
    bool imagenet_stem;
    int64_t stem_channels;
    int64_t in_channels, num_classes;
} dc_resnet_config;

/* x [N, in_channels, H, W] -> logits [N, num_classes]. */
dc_module *dc_resnet_new(const dc_resnet_config *config, dc_rng *rng);
/* torchvision's resnet18/34/50 (11,689,512 / 21,797,672 / 25,557,032 parameters with 1000
 * classes and 3 input channels). */
dc_module *dc_resnet18_new(int64_t num_classes, int64_t in_channels, dc_rng *rng);
dc_module *dc_resnet34_new(int64_t num_classes, int64_t in_channels, dc_rng *rng);
dc_module *dc_resnet50_new(int64_t num_classes, int64_t in_channels, dc_rng *rng);
/* A small ResNet for 28x28 images: 3x3 stem with 16 channels, three stages of two basic
 * blocks with 16, 32, 64 channels (28 -> 14 -> 7), average pooling, fc (174,970 parameters
 * for 1 input channel and 10 classes). */
dc_module *dc_resnet_small_new(int64_t num_classes, int64_t in_channels, dc_rng *rng);

/* ---- Attention blocks (src/nn/models_transformer.c; book §5.3, fig. 5.6) ---------------- */
/* The pre-norm residual blocks of the book's figure 5.6 on sequences x [B, T, dim], each
 * head of dimension dim / heads (heads must divide dim). Children: "ln" (LayerNorm) and
 * "mha" (dc_mha_new, dropout on the attention weights) or "fc1", "act", "fc2", "dropout". */

/* Self-attention block: y = x + mha(ln(x)) (causal: position t attends to positions <= t). */
dc_module *dc_self_attention_block_new(int64_t dim, int64_t heads, bool causal, double dropout,
                                       dc_rng *rng);
/* Cross-attention block: y = xq + mha(ln(xq), xkv): queries from the normalised xq
 * [B, N, dim], keys and values from xkv [B, M, dim] as it is (the book's figure). */
dc_module *dc_cross_attention_block_new(int64_t dim, int64_t heads, double dropout,
                                        dc_rng *rng);
dc_tensor *dc_cross_attention_block_forward(dc_module *block, dc_tensor *xq, dc_tensor *xkv);
/* Feed-forward block: y = x + dropout(fc2(gelu(fc1(ln(x))))), fc1 dim -> hidden,
 * fc2 hidden -> dim. */
dc_module *dc_feed_forward_block_new(int64_t dim, int64_t hidden, double dropout, dc_rng *rng);

/* ---- Encoder-decoder Transformer (book §5.3, fig. 5.7) ---------------------------------- */

typedef struct {
    int64_t src_vocab, tgt_vocab;
    int64_t context;             /* longest source / target sequence (positional table) */
    int enc_layers, dec_layers;  /* N of the figure for the encoder and the decoder */
    int64_t heads, dim;
    int64_t hidden;              /* feed-forward width; 0: 4 * dim */
    double dropout;
} dc_transformer_config;

/* Names: src_emb, tgt_emb (Embedding), encoder.layers.<i>.{self_att, ffw},
 * encoder.ln_f, decoder.layers.<i>.{self_att (causal), cross_att, ffw}, decoder.ln_f, head.
 * Fixed sinusoidal positions are added to both embeddings. The final LayerNorms (not drawn
 * in fig. 5.7) normalise the pre-norm residual streams, as in GPT-2 and in PyTorch's
 * nn.Transformer(norm_first=True). */
dc_module *dc_transformer_new(const dc_transformer_config *config, dc_rng *rng);
/* Encoder: src ids [B, T] (int64) -> Z [B, T, dim]. */
dc_tensor *dc_transformer_encode(dc_module *model, dc_tensor *src_ids);
/* Decoder: Z [B, T, dim] and target ids so far [B, S] -> logits [B, S, tgt_vocab]. */
dc_tensor *dc_transformer_decode(dc_module *model, dc_tensor *memory, dc_tensor *tgt_ids);
/* Both: logits [B, S, tgt_vocab] for src_ids [B, T] and tgt_ids [B, S]. */
dc_tensor *dc_transformer_forward(dc_module *model, dc_tensor *src_ids, dc_tensor *tgt_ids);

/* ---- GPT (book §5.3, fig. 5.8) ---------------------------------------------------------- */

typedef struct {
    int64_t vocab, context;
    int layers;
    int64_t heads, dim;
    double dropout;
} dc_gpt_config;

/* Names: tok_emb, pos_emb (learned positions), blocks.<i>.{self_att (causal), ffw (width
 * 4 dim)}, ln_f, head. GPT-2's initialisation: weights N(0, 0.02) (the attention output and fc2 scaled by
 * 1/sqrt(2 layers)), biases 0, LayerNorms 1 and 0. dc_forward: ids [B, T] (int64, T <=
 * context) -> next-token logits [B, T, vocab]. */
dc_module *dc_gpt_new(const dc_gpt_config *config, dc_rng *rng);
/* Its configuration (NULL for a module that is not a GPT). */
const dc_gpt_config *dc_gpt_get_config(const dc_module *gpt);

/* Draw one index from logits[0..n) (borrowed): softmax(logits / temperature) restricted to
 * the top_k largest (top_k <= 0: all) and then to the smallest set of most likely tokens
 * whose probability reaches top_p (top_p >= 1: all). temperature <= 0 takes the argmax.
 * Returns -1 on bad arguments (error set). */
int64_t dc_sample_logits(const float *logits, int64_t n, double temperature, int64_t top_k,
                         double top_p, dc_rng *rng);
/* Autoregressive generation (book §3.2, §7.1): prompt ids [T0] or [B, T0] (int64, T0 >= 1)
 * followed by n_new sampled tokens -> a new tensor [T0 + n_new] or [B, T0 + n_new]. The model
 * runs in eval mode without gradients and each token is drawn with dc_sample_logits from the
 * logits of the last position. Keys and values are cached (dc_mha_forward_cached): the
 * prompt is run once, then each step runs only the newest token, as long as all tokens fit
 * the context; past it, each step runs the last `context` tokens again (their positions
 * shift). The model's training flag is restored at the end. */
dc_tensor *dc_gpt_generate(dc_module *gpt, dc_tensor *prompt, int64_t n_new, double temperature,
                           int64_t top_k, double top_p, dc_rng *rng);

/* ---- Vision Transformer (book §5.3, fig. 5.9) ------------------------------------------- */

typedef struct {
    int64_t image_size, patch, in_channels, num_classes;
    int layers;
    int64_t heads, dim;
    int64_t hidden;      /* feed-forward width; 0: 4 * dim */
    int64_t head_hidden; /* width of the readout MLP's two hidden layers; 0: one Linear */
    double dropout;
} dc_vit_config;

/* Names: patch_embed (Conv2d with kernel = stride = patch: the book's W^E on flattened
 * patches), cls_token [1, 1, dim] (E_0), pos_emb (learned, M + 1 positions), blocks.<i>.
 * {self_att, ffw}, ln_f, head (the book's readout: Sequential fc -> GELU -> fc -> GELU -> fc,
 * or one Linear). Initialised like the GPT (weights N(0, 0.02), biases 0). dc_forward:
 * x [B, C, S, S] (S = image_size) -> logits [B, num_classes] read from the CLS token. */
dc_module *dc_vit_new(const dc_vit_config *config, dc_rng *rng);

/* ---- Recurrent language model (src/nn/models_rnn.c) ------------------------------------- */

typedef struct {
    dc_rnn_mode mode;            /* DC_RNN_LSTM, DC_RNN_GRU, DC_RNN_TANH or DC_RNN_RELU */
    int64_t vocab, embedding, hidden;
    int layers;
    double dropout;              /* between the recurrent layers and before the head */
} dc_rnn_lm_config;

/* A character (or token) language model: logits = head(drop(rnn(emb(ids)))). Children "emb"
 * (Embedding vocab x embedding), "rnn" (dc_rnn_new, batch_first, `layers` stacked with dropout
 * between them: rnn.weight_ih_l0, ...), "drop" (Dropout) and "head" (Linear hidden -> vocab).
 * dc_forward: ids [B, T] (int64) -> next-token logits [B, T, vocab] from zero states. */
dc_module *dc_rnn_lm_new(const dc_rnn_lm_config *config, dc_rng *rng);
/* Its configuration (NULL for a module that is not a dc_rnn_lm_new model). */
const dc_rnn_lm_config *dc_rnn_lm_get_config(const dc_module *lm);
/* Forward from the states h0, c0 [layers, B, hidden] (NULL: zeros; c0 for LSTM only), the
 * final states through h_n / c_n when not NULL (carry dc_detach(h_n) into the next window for
 * truncated BPTT). Returns logits [B, T, vocab], or NULL with an error (wrong ids or state
 * shapes), inputs untouched. */
dc_tensor *dc_rnn_lm_forward(dc_module *lm, dc_tensor *ids, dc_tensor *h0, dc_tensor *c0,
                             dc_tensor **h_n, dc_tensor **c_n);
/* dc_gpt_generate's contract for a recurrent LM: prompt [T0] or [B, T0] and n_new tokens
 * drawn with dc_sample_logits -> [T0 + n_new] or [B, T0 + n_new]. The prompt runs once, then
 * each step feeds only the newest token with the carried states (no context limit). */
dc_tensor *dc_rnn_lm_generate(dc_module *lm, dc_tensor *prompt, int64_t n_new,
                              double temperature, int64_t top_k, double top_p, dc_rng *rng);

#ifdef __cplusplus
}
#endif
#endif
