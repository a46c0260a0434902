/* A stand-in for a compiled plan's kernel library: fixed-size kernels with the plan ABI
   `void symbol(void **args)`, args[i] pointing into the arena. Built with the system C compiler
   into a shared object that the tests embed in hand-built plans. */

/* args: a (8 f32), b (8 f32), c (8 f32): c = a + b */
void nnrt_test_add8(void **args) {
  const float *a = args[0], *b = args[1];
  float *c = args[2];
  for (int i = 0; i < 8; ++i)
    c[i] = a[i] + b[i];
}

/* args: x (8 f32), y (8 f32): y = 2 x */
void nnrt_test_double8(void **args) {
  const float *x = args[0];
  float *y = args[1];
  for (int i = 0; i < 8; ++i)
    y[i] = 2.0f * x[i];
}

/* args: pred (2 f32), x (2x4 f32), y (2 i64), lr (f32), w (4 f32), w_new (4 f32), loss (f32):
   one SGD step of least squares on a batch of 2, pred = x @ w computed before:
     loss = mean((pred - y)^2),  w_new = w - lr * dloss/dw = w - lr * sum_i (pred_i - y_i) x_i */
void nnrt_test_mse_sgd(void **args) {
  const float *pred = args[0], *x = args[1], *lr = args[3], *w = args[4];
  const long long *y = args[2];
  float *w_new = args[5], *loss = args[6];
  float sum = 0.0f, grad[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (int i = 0; i < 2; ++i) {
    float e = pred[i] - (float)y[i];
    sum += e * e;
    for (int j = 0; j < 4; ++j)
      grad[j] += e * x[i * 4 + j];
  }
  *loss = sum / 2.0f;
  for (int j = 0; j < 4; ++j)
    w_new[j] = w[j] - *lr * grad[j];
}
