// ---------------------------------------------------------------- RoPE + KV append
// qkv = [q (nh*hd) | k (nkv*hd) | v (nkv*hd)] after bias. Rotates q in place, writes the
// rotated k and the v row at position tokpos[1] of caches laid out [nkv, max_t, hd].
extern "C" __global__ void rope_append(float* __restrict__ qkv, float* __restrict__ kc,
                                       float* __restrict__ vc, const float* __restrict__ inv_freq,
                                       const int* __restrict__ tokpos, int nh, int nkv, int hd,
                                       int max_t) {
    const int idx = blockIdx.x * blockDim.x + threadIdx.x;
    const int half = hd >> 1;
    const int pos = tokpos[1];
    const int nrot = (nh + nkv) * half;
    if (idx < nrot) {
        const int head = idx / half, i = idx - head * half;
        float s, c;
        sincosf((float)pos * inv_freq[i], &s, &c);
        float* base = qkv + (size_t)head * hd;   // k heads follow q heads
        const float x1 = base[i], x2 = base[i + half];
        const float r1 = x1 * c - x2 * s, r2 = x2 * c + x1 * s;
        if (head < nh) {
            base[i] = r1;
            base[i + half] = r2;
        } else {
            float* dst = kc + ((size_t)(head - nh) * max_t + pos) * hd;
            dst[i] = r1;
            dst[i + half] = r2;
        }
    } else if (idx < nrot + nkv * hd) {
        const int k = idx - nrot, kh = k / hd, d = k - kh * hd;
        vc[((size_t)kh * max_t + pos) * hd + d] = qkv[(size_t)(nh + nkv) * hd + k];
    }
}

