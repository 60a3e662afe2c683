// ---------------------------------------------------------------- f32 matvec
// A block of 8 warps computes 8/ks rows; ks warps share a row, each taking every ks-th
// stretch of 32 float4 (split-K), so a few hundred rows still fill the GPU.
#define MV_WARPS 8
// NORM: the RMSNorm before the projection is fused in: y = r * W (x * nw), r = 1/rms(x);
// each warp computes r itself from x (a few KB, cached), so the normed vector is never stored.
template <int SWIGLU, int NORM>
__device__ __forceinline__ void matvec_body(const float* __restrict__ W, const float* __restrict__ x,
                                            const float* __restrict__ bias, const float* resid,
                                            float* y, int rows, int cols, int has_bias, int has_resid,
                                            int ks, const float* __restrict__ nw, float eps) {
    __shared__ float red0[MV_WARPS], red1[MV_WARPS];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    const int row = blockIdx.x * (MV_WARPS / ks) + warp / ks;
    const int part = warp % ks;
    const bool valid = row < rows;
    float a0 = 0.f, a1 = 0.f;
    const float rn = NORM ? rsqrtf(warp_sumsq(x, cols) / (float)cols + eps) : 1.f;
    if (valid) {
        const float* w0 = W + (size_t)row * cols;
        const float* w1 = W + (size_t)(SWIGLU ? row + rows : row) * cols;
        if ((cols & 3) == 0) {
            const float4* w40 = reinterpret_cast<const float4*>(w0);
            const float4* w41 = reinterpret_cast<const float4*>(w1);
            const float4* x4 = reinterpret_cast<const float4*>(x);
            const int n4 = cols >> 2;
            const float4* n4p = reinterpret_cast<const float4*>(nw);
            #pragma unroll 4
            for (int i = part * 32 + lane; i < n4; i += 32 * ks) {
                float4 xv = x4[i];
                if (NORM) {
                    const float4 g = n4p[i];
                    xv.x *= g.x; xv.y *= g.y; xv.z *= g.z; xv.w *= g.w;
                }
                a0 += dot4(__ldg(w40 + i), xv);
                if (SWIGLU) a1 += dot4(__ldg(w41 + i), xv);
            }
        } else {
            for (int i = part * 32 + lane; i < cols; i += 32 * ks) {
                const float xv = NORM ? x[i] * nw[i] : x[i];
                a0 += __ldg(w0 + i) * xv;
                if (SWIGLU) a1 += __ldg(w1 + i) * xv;
            }
        }
    }
    a0 = warp_sum(a0);
    if (SWIGLU) a1 = warp_sum(a1);
    if (ks > 1) {                         // ks is uniform over the block: no divergent barrier
        if (lane == 0) { red0[warp] = a0; red1[warp] = a1; }
        __syncthreads();
        if (part != 0) return;
        if (lane == 0) {
            a0 = 0.f; a1 = 0.f;
            for (int k = 0; k < ks; ++k) { a0 += red0[warp + k]; a1 += red1[warp + k]; }
        }
    }
    if (valid && lane == 0) {
        float v;
        a0 *= rn;
        a1 *= rn;
        if (SWIGLU) {
            v = a0 / (1.f + expf(-a0)) * a1;
        } else {
            v = a0;
            if (has_bias) v += bias[row];
            if (has_resid) v += resid[row];
        }
        y[row] = v;
    }
}
extern "C" __global__ void matvec_f32(const float* __restrict__ W, const float* __restrict__ x,
                                      const float* __restrict__ bias, const float* resid, float* y,
                                      int rows, int cols, int has_bias, int has_resid, int ks) {
    matvec_body<0, 0>(W, x, bias, resid, y, rows, cols, has_bias, has_resid, ks, x, 0.f);
}
extern "C" __global__ void matvec_f32_swiglu(const float* __restrict__ W, const float* __restrict__ x,
                                             float* y, int rows, int cols, int ks) {
    matvec_body<1, 0>(W, x, x, x, y, rows, cols, 0, 0, ks, x, 0.f);
}
extern "C" __global__ void matvec_f32_norm(const float* __restrict__ W, const float* __restrict__ x,
                                           const float* __restrict__ bias, const float* resid, float* y,
                                           int rows, int cols, int has_bias, int has_resid, int ks,
                                           const float* __restrict__ nw, float eps) {
    matvec_body<0, 1>(W, x, bias, resid, y, rows, cols, has_bias, has_resid, ks, nw, eps);
}
extern "C" __global__ void matvec_f32_swiglu_norm(const float* __restrict__ W, const float* __restrict__ x,
                                                  float* y, int rows, int cols, int ks,
                                                  const float* __restrict__ nw, float eps) {
    matvec_body<1, 1>(W, x, x, x, y, rows, cols, 0, 0, ks, nw, eps);
}

