// ---------------------------------------------------------------- greedy step on the device
// One block: tokpos[0] = argmax(x) (lowest index on ties), out[tokpos[2]++] = it, tokpos[1]++.
// Lets a CUDA graph feed its own next token: no host round trip per generated token.
extern "C" __global__ void argmax_advance(const float* __restrict__ x, int n, int* tokpos, int* out) {
    __shared__ float bv[32];
    __shared__ int bi[32];
    float best = NEG_INF;
    int idx = 0x7fffffff;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        const float v = x[i];
        if (v > best) { best = v; idx = i; }
    }
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float ov = __shfl_xor_sync(0xffffffffu, best, o);
        const int oi = __shfl_xor_sync(0xffffffffu, idx, o);
        if (ov > best || (ov == best && oi < idx)) { best = ov; idx = oi; }
    }
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    if (lane == 0) { bv[wid] = best; bi[wid] = idx; }
    __syncthreads();
    if (wid == 0) {
        const int nw = blockDim.x >> 5;
        best = lane < nw ? bv[lane] : NEG_INF;
        idx = lane < nw ? bi[lane] : 0x7fffffff;
        #pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            const float ov = __shfl_xor_sync(0xffffffffu, best, o);
            const int oi = __shfl_xor_sync(0xffffffffu, idx, o);
            if (ov > best || (ov == best && oi < idx)) { best = ov; idx = oi; }
        }
        if (lane == 0) {
            if (idx == 0x7fffffff) idx = 0;   // all NaN: keep a valid token id
            tokpos[0] = idx;
            out[tokpos[2]] = idx;
            tokpos[2] += 1;
            tokpos[1] += 1;
        }
    }
}

