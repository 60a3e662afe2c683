// The first Q4_K matvec (16 bytes of nibbles per lane, 4 rows per warp), replaced by
// aprcore/gpu/cuda/q4k_matvec.cu; compiled by bench_q4k_v1.py only, for the side-by-side.
// byte k (0..11) of the 12 scale bytes, which sit in hdr.y, hdr.z, hdr.w
__device__ __forceinline__ unsigned int sbyte(uint4 hdr, int k) {
    const unsigned int w = k < 4 ? hdr.y : (k < 8 ? hdr.z : hdr.w);
    return (w >> ((k & 3) * 8)) & 0xffu;
}
// ggml's get_scale_min_k4
__device__ __forceinline__ void scale_min_k4(uint4 hdr, int j, float& sc, float& m) {
    unsigned int a, b;
    if (j < 4) {
        a = sbyte(hdr, j) & 63u;
        b = sbyte(hdr, j + 4) & 63u;
    } else {
        a = (sbyte(hdr, j + 4) & 0xFu) | ((sbyte(hdr, j - 4) >> 6) << 4);
        b = (sbyte(hdr, j + 4) >> 4) | ((sbyte(hdr, j) >> 6) << 4);
    }
    sc = (float)a;
    m = (float)b;
}

// A group of ks warps computes 4 packed rows (or 2 outputs of gate+up rows in the swiglu
// variant); a block of 8 warps holds 8/ks groups. Lane = (g, t): g = which of 4
// super-blocks in flight, t = which 16 bytes of its nibbles; warp `part` of a group takes
// super-blocks part*4+g, part*4+g+4*ks, ... (split-K), reduced through shared memory.
#define Q4K_WARPS 8
template <int SWIGLU>
__device__ __forceinline__ void q4k_body(const unsigned char* __restrict__ W,
                                         const signed char* __restrict__ xq,
                                         const float2* __restrict__ xs,
                                         const float* __restrict__ bias, const float* resid,
                                         float* y, int rows, int nb, int has_bias, int has_resid,
                                         int ks) {
    __shared__ float red[Q4K_WARPS][4];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int grp = blockIdx.x * (Q4K_WARPS / ks) + warp / ks;
    const int part = warp % ks;
    const int nout = SWIGLU ? 2 : 4;
    const int out0 = grp * nout;
    const bool valid = out0 < rows;
    const int g = lane >> 3, t = lane & 7, j = t >> 1, l0 = (t & 1) * 16;
    const size_t row_bytes = (size_t)nb * 144;
    const unsigned char* rp[4];
    bool ok[4];
    #pragma unroll
    for (int r = 0; r < 4; ++r) {
        const int o = SWIGLU ? out0 + (r & 1) : out0 + r;
        const int row = SWIGLU ? (r < 2 ? o : rows + o) : o;
        ok[r] = valid && o < rows;
        rp[r] = W + (size_t)(ok[r] ? row : 0) * row_bytes;
    }
    float acc[4] = {0.f, 0.f, 0.f, 0.f};
    const signed char* xq2 = xq + (size_t)nb * 256;   // the residual vector
    for (int b = part * 4 + g; valid && b < nb; b += 4 * ks) {
        const int xo = b * 256 + 64 * j + l0;
        const int4 xl = *reinterpret_cast<const int4*>(xq + xo);
        const int4 xh = *reinterpret_cast<const int4*>(xq + xo + 32);
        const int4 yl = *reinterpret_cast<const int4*>(xq2 + xo);
        const int4 yh = *reinterpret_cast<const int4*>(xq2 + xo + 32);
        const float2 sl = xs[b * 8 + 2 * j];
        const float2 sh = xs[b * 8 + 2 * j + 1];
        // the min term covers a whole 32-weight sub-block: only the even lane of a pair adds it
        const float mlo = (t & 1) ? 0.f : sl.y, mhi = (t & 1) ? 0.f : sh.y;
        #pragma unroll
        for (int r = 0; r < 4; ++r) {
            if (!ok[r]) continue;
            const unsigned char* blk = rp[r] + (size_t)b * 144;
            const uint4 hdr = __ldg(reinterpret_cast<const uint4*>(blk));
            const uint4 q = __ldg(reinterpret_cast<const uint4*>(blk + 16 + 16 * t));
            const float d = half_bits_to_float(hdr.x), dmin = half_bits_to_float(hdr.x >> 16);
            float sc1, m1, sc2, m2;
            scale_min_k4(hdr, 2 * j, sc1, m1);
            scale_min_k4(hdr, 2 * j + 1, sc2, m2);
            const int q0 = (int)(q.x & 0x0F0F0F0Fu), q1 = (int)(q.y & 0x0F0F0F0Fu);
            const int q2 = (int)(q.z & 0x0F0F0F0Fu), q3 = (int)(q.w & 0x0F0F0F0Fu);
            const int q4 = (int)((q.x >> 4) & 0x0F0F0F0Fu), q5 = (int)((q.y >> 4) & 0x0F0F0F0Fu);
            const int q6 = (int)((q.z >> 4) & 0x0F0F0F0Fu), q7 = (int)((q.w >> 4) & 0x0F0F0F0Fu);
            const int il = __dp4a(q3, xl.w, __dp4a(q2, xl.z, __dp4a(q1, xl.y, __dp4a(q0, xl.x, 0))));
            const int ih = __dp4a(q7, xh.w, __dp4a(q6, xh.z, __dp4a(q5, xh.y, __dp4a(q4, xh.x, 0))));
            const int jl = __dp4a(q3, yl.w, __dp4a(q2, yl.z, __dp4a(q1, yl.y, __dp4a(q0, yl.x, 0))));
            const int jh = __dp4a(q7, yh.w, __dp4a(q6, yh.z, __dp4a(q5, yh.y, __dp4a(q4, yh.x, 0))));
            const float fl = (float)il + (float)jl * (1.f / 254.f);
            const float fh = (float)ih + (float)jh * (1.f / 254.f);
            acc[r] += d * (sc1 * sl.x * fl + sc2 * sh.x * fh) - dmin * (m1 * mlo + m2 * mhi);
        }
    }
    #pragma unroll
    for (int r = 0; r < 4; ++r) acc[r] = warp_sum(acc[r]);
    if (ks > 1) {                         // ks is uniform over the block: no divergent barrier
        if (lane == 0) {
            #pragma unroll
            for (int r = 0; r < 4; ++r) red[warp][r] = acc[r];
        }
        __syncthreads();
        if (part != 0) return;
        if (lane == 0) {
            #pragma unroll
            for (int r = 0; r < 4; ++r) {
                acc[r] = 0.f;
                for (int k = 0; k < ks; ++k) acc[r] += red[warp + k][r];
            }
        }
    }
    if (lane == 0 && valid) {
        if (SWIGLU) {
            #pragma unroll
            for (int o = 0; o < 2; ++o)
                if (ok[o]) y[out0 + o] = acc[o] / (1.f + expf(-acc[o])) * acc[o + 2];
        } else {
            #pragma unroll
            for (int r = 0; r < 4; ++r) {
                if (!ok[r]) continue;
                float v = acc[r];
                if (has_bias) v += bias[out0 + r];
                if (has_resid) v += resid[out0 + r];
                y[out0 + r] = v;
            }
        }
    }
}
extern "C" __global__ void __launch_bounds__(256, 4) q4k_matvec(const unsigned char* __restrict__ W, const signed char* __restrict__ xq,
                                      const float2* __restrict__ xs, const float* __restrict__ bias,
                                      const float* resid, float* y, int rows, int nb,
                                      int has_bias, int has_resid, int ks) {
    q4k_body<0>(W, xq, xs, bias, resid, y, rows, nb, has_bias, has_resid, ks);
}
extern "C" __global__ void __launch_bounds__(256, 4) q4k_matvec_swiglu(const unsigned char* __restrict__ W,
                                             const signed char* __restrict__ xq,
                                             const float2* __restrict__ xs, float* y, int rows, int nb,
                                             int ks) {
    q4k_body<1>(W, xq, xs, nullptr, nullptr, y, rows, nb, 0, 0, ks);
}

