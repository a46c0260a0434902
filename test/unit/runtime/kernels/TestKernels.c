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
