// ---------------------------------------------------------------- Q4_K matvec
// Lane = (g, j): g = lane >> 2 picks one of 8 super-blocks in flight, j = lane & 3 one
// 64-weight pair of sub-blocks (2j: low nibbles, 2j+1: high nibbles of 32 bytes). So a
// lane decodes its two (scale, min) pairs once per 64 weights (half the scale work per
// byte of the v1 layout, and no even/odd lane split of the min term), loads its 32 bytes
// of nibbles as two 16-byte vectors and the 16-byte header (shared by the 4 lanes of a
// super-block, one coalesced 144-byte stretch). R rows per warp reuse each activation
// load; ks warps of a block split a row group's super-blocks (split-K).
#define Q4K2_MAXW 8
__device__ __forceinline__ void q4k2_scales(uint4 hdr, int j, float& sc1, float& m1, float& sc2, float& m2) {
    const int sh = (j & 1) * 16;
    const unsigned int y = hdr.y >> sh, z = hdr.z >> sh, w = hdr.w >> sh;
    unsigned int scp, mp;
    if (j < 2) {
        scp = y & 0x3f3fu;
        mp = z & 0x3f3fu;
    } else {
        scp = (w & 0x0f0fu) | ((y >> 2) & 0x3030u);
        mp = ((w >> 4) & 0x0f0fu) | ((z >> 2) & 0x3030u);
    }
    sc1 = (float)(scp & 0xffu); sc2 = (float)((scp >> 8) & 0xffu);
    m1 = (float)(mp & 0xffu); m2 = (float)((mp >> 8) & 0xffu);
}
__device__ __forceinline__ int dp8(uint4 a, uint4 b, int sh, int4 x0, int4 x1) {
    int s = __dp4a((int)((a.x >> sh) & 0x0F0F0F0Fu), x0.x, 0);
    s = __dp4a((int)((a.y >> sh) & 0x0F0F0F0Fu), x0.y, s);
    s = __dp4a((int)((a.z >> sh) & 0x0F0F0F0Fu), x0.z, s);
    s = __dp4a((int)((a.w >> sh) & 0x0F0F0F0Fu), x0.w, s);
    s = __dp4a((int)((b.x >> sh) & 0x0F0F0F0Fu), x1.x, s);
    s = __dp4a((int)((b.y >> sh) & 0x0F0F0F0Fu), x1.y, s);
    s = __dp4a((int)((b.z >> sh) & 0x0F0F0F0Fu), x1.z, s);
    s = __dp4a((int)((b.w >> sh) & 0x0F0F0F0Fu), x1.w, s);
    return s;
}
template <int R, int SWIGLU>
__device__ __forceinline__ void q4k2_body(const unsigned char* __restrict__ W,
                                          const signed char* __restrict__ xq,
                                          const float2* __restrict__ xs,
                                          const float* __restrict__ bias, const float* resid,
                                          float* y, int rows, int nb, int has_bias, int has_resid,
                                          int ks) {
    __shared__ float red[Q4K2_MAXW][R];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    const int grp = blockIdx.x * (nw / ks) + warp / ks;
    const int part = warp % ks;
    const int nout = SWIGLU ? R / 2 : R;
    const int out0 = grp * nout;
    const bool valid = out0 < rows;
    const int g = lane >> 2, j = lane & 3;
    const size_t row_bytes = (size_t)nb * 144;
    const unsigned char* rp[R];
    bool ok[R];
    #pragma unroll
    for (int r = 0; r < R; ++r) {
        const int o = SWIGLU ? out0 + (r % nout) : out0 + r;
        const int row = SWIGLU ? (r < nout ? o : rows + o) : o;
        ok[r] = valid && o < rows;
        rp[r] = W + (size_t)(ok[r] ? row : 0) * row_bytes + 16 + 32 * j;
    }
    float acc[R];
    #pragma unroll
    for (int r = 0; r < R; ++r) acc[r] = 0.f;
    const signed char* xq2 = xq + (size_t)nb * 256;   // the residual vector
    const float4* xs4 = reinterpret_cast<const float4*>(xs);
    for (int b = part * 8 + g; valid && b < nb; b += 8 * ks) {
        uint4 hdr[R], qa[R], qb[R];
        #pragma unroll
        for (int r = 0; r < R; ++r) {       // all weight loads of the step first
            const unsigned char* p = rp[r] + (size_t)b * 144;
            hdr[r] = __ldg(reinterpret_cast<const uint4*>(p - 16 - 32 * j));
            qa[r] = __ldg(reinterpret_cast<const uint4*>(p));
            qb[r] = __ldg(reinterpret_cast<const uint4*>(p + 16));
        }
        const int xo = b * 256 + 64 * j;
        const int4* xv = reinterpret_cast<const int4*>(xq + xo);
        const int4* yv = reinterpret_cast<const int4*>(xq2 + xo);
        const int4 x0 = xv[0], x1 = xv[1], x2 = xv[2], x3 = xv[3];
        const int4 y0 = yv[0], y1 = yv[1], y2 = yv[2], y3 = yv[3];
        const float4 s = xs4[b * 4 + j];     // (d, sum) of sub-blocks 2j and 2j+1
        #pragma unroll
        for (int r = 0; r < R; ++r) {
            const float d = half_bits_to_float(hdr[r].x), dmin = half_bits_to_float(hdr[r].x >> 16);
            float sc1, m1, sc2, m2;
            q4k2_scales(hdr[r], j, sc1, m1, sc2, m2);
            const int il = dp8(qa[r], qb[r], 0, x0, x1), ih = dp8(qa[r], qb[r], 4, x2, x3);
            const int jl = dp8(qa[r], qb[r], 0, y0, y1), jh = dp8(qa[r], qb[r], 4, y2, y3);
            const float fl = (float)il + (float)jl * (1.f / 254.f);
            const float fh = (float)ih + (float)jh * (1.f / 254.f);
            acc[r] += d * (sc1 * s.x * fl + sc2 * s.z * fh) - dmin * (m1 * s.y + m2 * s.w);
        }
    }
    #pragma unroll
    for (int r = 0; r < R; ++r) acc[r] = warp_sum(acc[r]);
    if (ks > 1) {                         // ks is uniform over the block: no divergent barrier
        if (lane == 0) {
            #pragma unroll
            for (int r = 0; r < R; ++r) red[warp][r] = acc[r];
        }
        __syncthreads();
        if (part != 0) return;
        if (lane == 0) {
            #pragma unroll
            for (int r = 0; r < R; ++r) {
                acc[r] = 0.f;
                for (int k = 0; k < ks; ++k) acc[r] += red[warp + k][r];
            }
        }
    }
    if (lane == 0 && valid) {
        if (SWIGLU) {
            #pragma unroll
            for (int o = 0; o < R / 2; ++o)
                if (ok[o]) y[out0 + o] = acc[o] / (1.f + expf(-acc[o])) * acc[o + R / 2];
        } else {
            #pragma unroll
            for (int r = 0; r < R; ++r) {
                if (!ok[r]) continue;
                float v = acc[r];
                if (has_bias) v += bias[out0 + r];
                if (has_resid) v += resid[out0 + r];
                y[out0 + r] = v;
            }
        }
    }
}
#define Q4K2_INST(R)                                                                                      \
extern "C" __global__ void __launch_bounds__(256) q4k2_matvec_r##R(                                       \
        const unsigned char* __restrict__ W, const signed char* __restrict__ xq,                          \
        const float2* __restrict__ xs, const float* __restrict__ bias, const float* resid, float* y,     \
        int rows, int nb, int has_bias, int has_resid, int ks) {                                          \
    q4k2_body<R, 0>(W, xq, xs, bias, resid, y, rows, nb, has_bias, has_resid, ks);                        \
}                                                                                                         \
extern "C" __global__ void __launch_bounds__(256) q4k2_matvec_swiglu_r##R(                                \
        const unsigned char* __restrict__ W, const signed char* __restrict__ xq,                          \
        const float2* __restrict__ xs, float* y, int rows, int nb, int ks) {                              \
    q4k2_body<R, 1>(W, xq, xs, nullptr, nullptr, y, rows, nb, 0, 0, ks);                                  \
}
Q4K2_INST(2)
Q4K2_INST(4)

