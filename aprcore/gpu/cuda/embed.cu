// ---------------------------------------------------------------- embedding, RoPE + KV append
// tokpos[0] = token id, tokpos[1] = position
extern "C" __global__ void embed_f32(const float* __restrict__ E, const int* __restrict__ tokpos,
                                     float* __restrict__ x, int h) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < h) x[i] = E[(size_t)tokpos[0] * h + i];
}

