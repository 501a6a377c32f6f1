/* Gradient-check rows of one op family, included by tests/test_gradcheck.c three times:
 * GRADCHECK_FUNCTIONS (the FN(...) case functions), GRADCHECK_ROWS (rows of cases[]) and
 * GRADCHECK_NOT_DIFFERENTIABLE (names for not_differentiable[], each with its reason), and
 * GRADCHECK_TESTS (one TEST per family name used by the rows, calling check_family).
 *
 * Family "rnn": the recurrent cells of src/ops/rnn.c. A cell has more tensors than a row has
 * inputs, so its weights and biases come packed side by side in one input P [G*H, I+H+2]:
 * w_ih = P[:, :I], w_hh = P[:, I:I+H], b_ih = P[:, I+H], b_hh = P[:, I+H+1] (views, so the
 * check reaches every weight and bias gradient through them). Here B = 3, I = 2, H = 2. */
#if defined(GRADCHECK_FUNCTIONS)
#define RNN_W_IH(p) dc_narrow((p), 1, 0, 2)
#define RNN_W_HH(p) dc_narrow((p), 1, 2, 2)
#define RNN_B_IH(p) dc_select((p), 1, 4)
#define RNN_B_HH(p) dc_select((p), 1, 5)
FN(f_lstm_fused_cell, dc_lstm_fused_cell(x[0], x[1], x[2]))
FN(f_lstm_fused_cell_zero_state, dc_lstm_fused_cell(x[0], NULL, NULL))
FN(f_gru_fused_cell, dc_gru_fused_cell(x[0], x[1], x[2]))
FN(f_rnn_tanh_cell, dc_rnn_tanh_cell(x[0], x[1], RNN_W_IH(x[2]), RNN_W_HH(x[2]), RNN_B_IH(x[2]),
                                     RNN_B_HH(x[2])))
FN(f_rnn_relu_cell_no_bias, dc_rnn_relu_cell(x[0], x[1], RNN_W_IH(x[2]), RNN_W_HH(x[2]), NULL, NULL))
FN(f_rnn_tanh_cell_zero_state, dc_rnn_tanh_cell(x[0], NULL, RNN_W_IH(x[1]), RNN_W_HH(x[1]),
                                                RNN_B_IH(x[1]), RNN_B_HH(x[1])))
FN(f_lstm_cell, dc_lstm_cell(x[0], x[1], x[2], RNN_W_IH(x[3]), RNN_W_HH(x[3]), RNN_B_IH(x[3]),
                             RNN_B_HH(x[3])))
FN(f_lstm_cell_zero_state, dc_lstm_cell(x[0], NULL, NULL, RNN_W_IH(x[1]), RNN_W_HH(x[1]),
                                        RNN_B_IH(x[1]), RNN_B_HH(x[1])))
FN(f_gru_cell, dc_gru_cell(x[0], x[1], RNN_W_IH(x[2]), RNN_W_HH(x[2]), RNN_B_IH(x[2]),
                           RNN_B_HH(x[2])))
FN(f_gru_cell_zero_state, dc_gru_cell(x[0], NULL, RNN_W_IH(x[1]), RNN_W_HH(x[1]), RNN_B_IH(x[1]),
                                      RNN_B_HH(x[1])))
#elif defined(GRADCHECK_ROWS)
    {"rnn", "lstm_fused_cell", "dc_lstm_fused_cell", f_lstm_fused_cell, 3, {T(3, 8), T(3, 8), T(3, 2)}, NC},
    {"rnn", "lstm_fused_cell_zero_state", "dc_lstm_fused_cell", f_lstm_fused_cell_zero_state, 1, {T(3, 8)}, NC},
    {"rnn", "gru_fused_cell", "dc_gru_fused_cell", f_gru_fused_cell, 3, {T(3, 6), T(3, 6), T(3, 2)}, NC},
    {"rnn", "rnn_tanh_cell", "dc_rnn_tanh_cell", f_rnn_tanh_cell, 3, {T(3, 2), T(3, 2), T(2, 6)}, NC},
    {"rnn", "rnn_relu_cell_no_bias", "dc_rnn_relu_cell", f_rnn_relu_cell_no_bias, 3, {T(3, 2), T(3, 2), T(2, 6)}, NC},
    {"rnn", "rnn_tanh_cell_zero_state", "dc_rnn_tanh_cell", f_rnn_tanh_cell_zero_state, 2, {T(3, 2), T(2, 6)}, NC},
    {"rnn", "lstm_cell", "dc_lstm_cell", f_lstm_cell, 4, {T(3, 2), T(3, 2), T(3, 2), T(8, 6)}, NC},
    {"rnn", "lstm_cell_zero_state", "dc_lstm_cell", f_lstm_cell_zero_state, 2, {T(3, 2), T(8, 6)}, NC},
    {"rnn", "gru_cell", "dc_gru_cell", f_gru_cell, 3, {T(3, 2), T(3, 2), T(6, 6)}, NC},
    {"rnn", "gru_cell_zero_state", "dc_gru_cell", f_gru_cell_zero_state, 2, {T(3, 2), T(6, 6)}, NC},
#elif defined(GRADCHECK_NOT_DIFFERENTIABLE)
#elif defined(GRADCHECK_TESTS)
TEST(test_gradcheck_recurrent_cells) { check_family("rnn"); }
#endif
